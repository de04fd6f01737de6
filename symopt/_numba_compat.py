"""Every use of Numba internals in symopt, in one place, each with a public-API fallback.

symopt binds kernels to compiled solvers by machine-code address and calls its entry
points without Numba's dispatcher.  Both use Numba internals that can change in any
release:

* :func:`kernel_address` reads the address of a dispatcher's compiled function
  (``get_compile_result(sig).library.get_pointer_to_function(fndesc.llvm_func_name)``,
  what ``numba.experimental.function_type`` itself does);
* :func:`function_from_address` builds a first-class function value from an address
  inside compiled code, filling the ``jit_addr`` field of Numba's function-type struct;
* :func:`direct_call` calls a compiled overload's CPython wrapper
  (``dispatcher.overloads[sig].entry_point``), skipping argument typing;
* :func:`address_of` (array kernels, :mod:`symopt.tensor`) takes the address of another
  compiled function of the same generated module as a link-time reference
  (``dispatcher.overloads[sig].library`` and ``fndesc``, ``context.add_linking_libs``,
  ``context.declare_function``), so that a kernel that hands its block functions to a
  runner compiled once per install stays cacheable.
* :func:`memoize_inline_frontend` makes Numba's IR-level inlining (``inline="always"``)
  build each symopt helper's IR once per process
  (``numba.core.inline_closurecall.InlineWorker.run_untyped_passes``), instead of once
  per call site, and copies a helper's scope once per call site rather than once per
  block (an instance ``__deepcopy__`` on ``numba.core.ir.Scope``).  Public-API fallback:
  without it, Numba builds and copies the same IR again each time (slower compiles,
  same machine code).

:func:`pointer_intrinsic` (an integer address as a typed pointer, for ``numba.carray``)
is not on this list: it uses only the documented extension API
(``numba.extending.intrinsic`` and llvmlite IR), and has no fallback to need.

:func:`internals_missing` checks that all of them are still there;
``tests/test_numba_compat.py`` fails with a clear message when a Numba release removes
one.  The fallback (``SYMOPT_NUMBA_PUBLIC_ONLY=1`` in the environment, or automatic when
the check fails) uses public API only: each kernel is compiled a second time as a
``numba.cfunc`` (C calling convention) and its public ``address`` is stored in the
``c_addr`` field instead (Numba calls through ``c_addr`` when ``jit_addr`` is null), and
entry points are called through their dispatchers; array kernels (``USE_ADDRESS_OF``
false) call their block functions directly, one block after the other, instead of
through the parallel runner (same blocks, same order of partial sums: the same results
to the last bit, on one thread).  It is slower (a C-ABI call per kernel evaluation, a
second compilation per kernel, dispatch per solve, serial array kernels) but correct.
"""

from __future__ import annotations

import os
import warnings

import numba
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["PUBLIC_ONLY", "MODE", "USE_ADDRESS_OF", "internals_missing",
           "function_from_address", "kernel_address", "direct_call", "address_of",
           "pointer_intrinsic", "memoize_inline_frontend"]


def internals_missing() -> str | None:
    """``None`` when every Numba internal symopt uses is present, else what is missing."""
    try:
        import numba.experimental.function_type  # noqa: F401 - registers the data model
        from numba.core import datamodel
        from numba.core.dispatcher import Dispatcher
        from numba.core.registry import cpu_target

        if not hasattr(Dispatcher, "get_compile_result"):
            return "numba's Dispatcher has no get_compile_result()"
        fn_type = types.FunctionType(types.float64(types.float64))
        model = datamodel.default_manager.lookup(fn_type)
        fields = set(getattr(model, "_fields", ()))
        missing = {"jit_addr", "c_addr", "py_addr"} - fields
        if missing:
            return f"numba's function-type struct has no field(s) {', '.join(sorted(missing))}"
        if cpu_target.target_context is None:  # pragma: no cover
            return "numba has no CPU target context"
        from numba.core.compiler import CompileResult

        for name in ("library", "fndesc", "entry_point"):
            if name not in getattr(CompileResult, "_fields", ()):
                return f"numba's CompileResult has no field {name!r}"
        from numba.core.base import BaseContext

        for name in ("add_linking_libs", "declare_function"):
            if not callable(getattr(BaseContext, name, None)):
                return f"numba's target context has no {name}()"
        probe = numba.njit(lambda v: v)  # never compiled: only its attributes are read
        if not isinstance(getattr(probe, "overloads", None), dict):
            return "numba's Dispatcher has no overloads dict"
    except Exception as exc:  # an import or attribute that moved
        return f"{type(exc).__name__}: {exc}"
    return None


def _public_only() -> bool:
    if os.environ.get("SYMOPT_NUMBA_PUBLIC_ONLY", "") not in ("", "0"):
        return True
    reason = internals_missing()
    if reason is not None:
        warnings.warn(f"symopt: Numba {numba.__version__} changed an internal symopt uses "
                      f"({reason}); using the slower public-API binding", RuntimeWarning,
                      stacklevel=3)
        return True
    return False


#: True: bind kernels through ``numba.cfunc`` addresses and call entries through their
#: dispatchers (public API only)
PUBLIC_ONLY = _public_only()
#: the binding mode, part of the cache key of every generated entry point
MODE = "cfunc" if PUBLIC_ONLY else "jit"
#: True: generated array kernels hand their block functions to the parallel runner by
#: address (:func:`address_of`); False (public-only mode): they call them directly
USE_ADDRESS_OF = not PUBLIC_ONLY


def function_from_address(fn_type: types.FunctionType, convention: str = "mode"):
    """An intrinsic ``f(address: intp) -> fn_type`` building a first-class function
    value that calls the function at ``address``: with ``convention="mode"``, an address
    from :func:`kernel_address` (Numba calling convention, or C calling convention in the
    public-only mode); with ``"jit"``, always the Numba calling convention (an address
    from :func:`address_of`)."""
    field = "c_addr" if PUBLIC_ONLY and convention == "mode" else "jit_addr"
    others = [name for name in ("jit_addr", "c_addr", "py_addr") if name != field]

    @intrinsic
    def from_address(typingctx, address):
        if not isinstance(address, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            voidptr = context.get_value_type(types.voidptr)
            function = cgutils.create_struct_proxy(fn_type)(context, builder)
            setattr(function, field, builder.inttoptr(args[0], voidptr))
            for name in others:
                setattr(function, name, cgutils.get_null_value(voidptr))
            return function._getvalue()

        return fn_type(address), codegen

    return from_address


#: cfuncs made by the public-only mode, kept alive while their addresses are in use
_cfuncs: dict[tuple[int, str], object] = {}
_CFUNC_OPTIONS = ("parallel", "error_model", "fastmath", "boundscheck", "nogil")


def kernel_address(dispatcher, signature) -> int:
    """Address of ``dispatcher``'s compiled function for ``signature``, for
    :func:`function_from_address`."""
    if not PUBLIC_ONLY:
        result = dispatcher.get_compile_result(signature)
        return result.library.get_pointer_to_function(result.fndesc.llvm_func_name)
    key = (id(dispatcher), str(signature))
    compiled = _cfuncs.get(key)
    if compiled is None:
        options = {k: v for k, v in getattr(dispatcher, "targetoptions", {}).items()
                   if k in _CFUNC_OPTIONS}
        compiled = _cfuncs[key] = (numba.cfunc(signature, **options)(dispatcher.py_func),
                                   dispatcher)
    return compiled[0].address


def direct_call(dispatcher):
    """``dispatcher``'s only compiled overload as its CPython wrapper (no argument
    typing), or the dispatcher itself in the public-only mode or when there is not
    exactly one overload."""
    if PUBLIC_ONLY or len(dispatcher.signatures) != 1:
        return dispatcher
    compiled = getattr(dispatcher, "overloads", {}).get(dispatcher.signatures[0])
    return getattr(compiled, "entry_point", None) or dispatcher


def address_of(signature):
    """An intrinsic ``address_of(fn) -> intp``: the address of the dispatcher ``fn``'s
    function compiled for ``signature`` (on first use), for a first-class function value
    made by :func:`function_from_address`.  ``fn`` must be a global of the calling
    module: the address is a relocatable reference that the linker resolves when the
    caller's code is loaded, so the caller stays cacheable by Numba (a dispatcher passed
    as a first-class function would bake the address into the machine code).  Numba
    internals: used only when :data:`USE_ADDRESS_OF` is true."""

    @intrinsic
    def address(typingctx, fn):
        if not isinstance(fn, types.Dispatcher):
            return None
        dispatcher = fn.dispatcher
        if signature.args not in dispatcher.signatures:
            dispatcher.compile(signature)

        def codegen(context, builder, sig, args):
            compiled = dispatcher.overloads[signature.args]
            context.add_linking_libs([compiled.library])
            function = context.declare_function(builder.module, compiled.fndesc)
            return builder.ptrtoint(function, context.get_value_type(types.intp))

        return types.intp(fn), codegen

    return address


def pointer_intrinsic(dtype):
    """An intrinsic ``pointer(address: integer) -> CPointer(dtype)`` (for
    ``numba.carray``): documented extension API only (``numba.extending.intrinsic``)."""
    pointer_type = types.CPointer(dtype)

    @intrinsic
    def pointer(typingctx, address):
        if not isinstance(address, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(pointer_type))

        return pointer_type(address), codegen

    return pointer


#: ``(function, pipeline class, compiler flags)`` -> the function's untyped
#: Numba IR, built once (see :func:`memoize_inline_frontend`)
_inline_ir: dict = {}


#: bumped for every call site handed a memoised IR (see :func:`_copy_scope_once`)
_generation = [0]


def _copy_scope_once(scope) -> None:
    """Make ``copy.deepcopy`` copy ``scope`` (a Numba ``ir.Scope``, which holds every
    variable of a function) once per call site instead of once per block.

    ``InlineWorker.inline_ir`` copies the callee's blocks one ``deepcopy`` at a time, and
    each block's variables bring their scope along, so a callee of B blocks and V
    variables cost B x V variable copies: 27 % of a solver's compile time.  Here every
    block copied for one call site (one value of :data:`_generation`) shares one copy of
    the scope, as the blocks of the original share one scope.  The copy gets the same
    treatment, since ``inline_ir`` copies its copy once more."""
    import copy

    if "__deepcopy__" in scope.__dict__:
        return
    copies = {}

    def __deepcopy__(memo):
        generation = _generation[0]
        copied = copies.get(generation)
        if copied is None:
            copies.clear()
            copied = object.__new__(type(scope))
            inner = {id(scope): copied}
            for name, value in scope.__dict__.items():
                if name != "__deepcopy__":
                    setattr(copied, name, copy.deepcopy(value, inner))
            _copy_scope_once(copied)
            copies[generation] = copied
        memo[id(scope)] = copied
        return copied

    scope.__deepcopy__ = __deepcopy__  # copy.deepcopy looks it up on the instance


def memoize_inline_frontend() -> bool:
    """Build the IR of each ``inline="always"`` symopt helper once per process.

    Numba inlines such a helper at the IR level: at each call site it runs its whole
    untyped front end again (bytecode analysis, IR, the untyped passes, which inline
    the helper's own helpers, recursively) and then copies the result into the caller
    (``InlineWorker.inline_ir`` copies the callee's blocks before it changes them).  The
    solvers call the same helpers at many sites, so here the IR is built once per
    helper, and each call site gets a copy with a fresh function identity (so that the
    names of its inlined variables stay distinct), whose blocks share one copy of the
    function's scope (:func:`_copy_scope_once`).  Only functions of symopt's own
    modules are memoised; a user's functions are inlined as Numba does.

    Returns whether the memo is installed (False when the internal moved: the fallback
    is Numba's own behaviour, the same IR built again at every call site).
    """
    try:
        from numba.core import bytecode
        from numba.core.inline_closurecall import InlineWorker

        original = InlineWorker.run_untyped_passes
        from_function = bytecode.FunctionIdentity.from_function
    except (ImportError, AttributeError):
        return False
    if getattr(original, "_symopt_memo", False):
        return True

    def run_untyped_passes(self, func, enable_ssa=False):
        if self.locals or not getattr(func, "__module__", "").startswith("symopt."):
            return original(self, func, enable_ssa)
        self.flags.enable_ssa = enable_ssa  # as the original does, on the caller's flags
        key = (func, type(self.pipeline), repr(self.flags))
        built = _inline_ir.get(key)
        if built is None:
            built = _inline_ir[key] = original(self, func, enable_ssa)
        # inline_ir copies the blocks before it changes them; the identity is made new
        # for each call site, as the original does
        callee_ir = built.copy()
        callee_ir.func_id = from_function(func)
        _generation[0] += 1
        for block in built.blocks.values():
            _copy_scope_once(block.scope)
        return callee_ir

    run_untyped_passes._symopt_memo = True
    InlineWorker.run_untyped_passes = run_untyped_passes
    return True
