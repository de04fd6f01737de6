"""Formula text -> array formula, through the same kind of whitelist as
:mod:`symopt.parsing` (the text is never evaluated).

Admitted, besides what scalar formulas admit (numbers, ``+ - * / **``, unary minus, the
element-wise functions of :mod:`symopt.functions`): the names declared by the caller
(data, variables, parameters and sizes), ``@``, ``.T``, subscripts (integers, sizes,
summation indices and affine expressions of them, slices with positive steps, ``None``),
the array functions ``sum``, ``mean``, ``logsumexp``, ``max``, ``softmax`` (with
``axis=``), ``dot``, ``outer``, ``pick``, and sums over an index:
``sum(term, (i, lo, hi))`` (``i`` a new name, both ends included).

The text is first checked by :mod:`symopt.parsing`'s linear scan (length, brackets,
nesting depth) and parsed by its tree wrapper (offsets back into the text); a constant
part (no names) is handed to :func:`symopt.parse_formula` itself, so huge numbers and
undefined values are refused exactly as there.  Every error is a
:class:`~symopt.errors.FormulaError` pointing at the offending part.
"""

from __future__ import annotations

import ast
from typing import Mapping, NoReturn

import sympy

from ..errors import FormulaError, ShapeError, SymoptError
from ..functions import ALLOWED_CONSTANTS, ALLOWED_FUNCTIONS, FUNCTION_ARITY
from ..parsing import MAX_FORMULA_LENGTH, MAX_NESTING_DEPTH, parse_formula
from . import ops
from .ir import Dim, IndexSymbol, Leaf, Node, as_node

__all__ = ["parse_array_formula", "ARRAY_FUNCTIONS"]

#: array functions admitted in text: name -> (python function, positional arity range,
#: takes axis=)
ARRAY_FUNCTIONS = {
    "sum": (ops.sum, (1, 2), True),
    "mean": (ops.mean, (1, 1), True),
    "logsumexp": (ops.logsumexp, (1, 1), True),
    "max": (ops.max, (1, 1), True),
    "softmax": (ops.softmax, (1, 1), True),
    "dot": (ops.dot, (2, 2), False),
    "outer": (ops.outer, (2, 2), False),
    "pick": (ops.pick, (2, 2), False),
}


def _tree(text: str):
    """The parsed tree with offsets, from :mod:`symopt.parsing` (its bracket/length scan
    and its tree wrapper; the one place this module reaches into that module)."""
    from .. import parsing

    parsing._scan(text)
    return parsing._FormulaTree(text)


class _Converter:
    def __init__(self, text: str, leaves: Mapping[str, Leaf], dims: Mapping[str, Dim]):
        self.text = text
        self.tree = _tree(text)
        self.leaves = dict(leaves)
        self.dims = dict(dims)
        self.indices: dict[str, IndexSymbol] = {}

    def fail(self, message: str, node: ast.AST | None) -> NoReturn:
        from ..parsing import _fail

        offset = self.tree.start(node) if node is not None and hasattr(node, "lineno") else None
        _fail(message, self.text, offset)

    # --- entry -------------------------------------------------------------------------------
    def convert(self, node: ast.AST, depth: int = 0):
        if depth > MAX_NESTING_DEPTH:
            self.fail(f"the formula is nested too deeply (more than {MAX_NESTING_DEPTH} levels)", node)
        if self._constant(node):
            return self._constant_value(node)
        try:
            return self._convert(node, depth + 1)
        except FormulaError:
            raise
        except ShapeError as exc:  # shapes: say where, keep the kind of error
            offset = self.tree.start(node) if hasattr(node, "lineno") else 0
            pointer = (f"\n    {self.text}\n    {' ' * offset}^" if "\n" not in self.text
                       and len(self.text) <= 200 else "")
            raise ShapeError(f"{exc}{pointer}") from None
        except SymoptError as exc:  # names, problems: say where
            self.fail(str(exc), node)

    def _constant(self, node: ast.AST) -> bool:
        """Whether ``node`` is a number-valued part without arrays (numbers, constants and
        scalar functions of them): the scalar parser handles it, with all its guards."""
        called = {id(c.func) for c in ast.walk(node)
                  if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
        declared = set(self.leaves) | set(self.dims) | set(self.indices)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                if sub.id in declared:
                    return False
                if id(sub) in called:
                    if sub.id not in ALLOWED_FUNCTIONS:
                        return False
                elif sub.id not in ALLOWED_CONSTANTS:
                    return False
            elif isinstance(sub, (ast.Subscript, ast.Attribute, ast.Tuple, ast.keyword, ast.Starred)):
                return False
            elif isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.MatMult):
                return False
            elif isinstance(sub, ast.Call) and not isinstance(sub.func, ast.Name):
                return False
        return True

    def _constant_value(self, node: ast.AST) -> sympy.Expr:
        segment = self.tree.segment(node)
        try:
            return parse_formula(segment)
        except FormulaError as exc:
            offset = self.tree.start(node) + (exc.offset or 0)
            from ..parsing import _fail

            _fail(str(exc).split("\n")[0], self.text, offset)

    def _convert(self, node: ast.AST, depth: int):
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            left = self.convert(node.left, depth)
            right = self.convert(node.right, depth)
            op = node.op
            if isinstance(op, ast.Add):
                return as_node(left) + right
            if isinstance(op, ast.Sub):
                return as_node(left) - right
            if isinstance(op, ast.Mult):
                return as_node(left) * right
            if isinstance(op, ast.Div):
                return as_node(left) / right
            if isinstance(op, ast.Pow):
                return as_node(left) ** right
            if isinstance(op, ast.MatMult):
                return ops.matmul(left, right)
            self.fail(f"the operator {type(op).__name__} is not allowed in a formula", node)
        if isinstance(node, ast.UnaryOp):
            value = self.convert(node.operand, depth)
            if isinstance(node.op, ast.USub):
                return -as_node(value)
            if isinstance(node.op, ast.UAdd):
                return value
            self.fail("only unary '-' and '+' are allowed", node)
        if isinstance(node, ast.Attribute):
            if node.attr != "T":
                self.fail(f"attribute access ('.{node.attr}') is not allowed; '.T' (transpose) is", node)
            return as_node(self.convert(node.value, depth)).T
        if isinstance(node, ast.Subscript):
            base = self.convert(node.value, depth)
            if not isinstance(base, Node):
                self.fail("only arrays can be indexed", node)
            return ops.getitem(base, self.subscript(node.slice))
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.Constant):
            self.fail(f"{node.value!r} is not allowed here", node)
        self.fail(f"{type(node).__name__} is not allowed in a formula", node)

    def name(self, node: ast.Name):
        name = node.id
        if name in self.indices:
            self.fail(f"the summation index {name!r} may appear only in subscripts", node)
        if name in self.leaves:
            return self.leaves[name]
        if name in self.dims:
            return self.dims[name]
        if name in ALLOWED_CONSTANTS:
            return ALLOWED_CONSTANTS[name]
        declared = sorted(self.leaves)
        self.fail(f"unknown name {name!r}; the formula's arrays are {', '.join(declared) or 'none'}"
                  " (declare data=, wrt=, params=)", node)

    # --- subscripts ----------------------------------------------------------------------------
    def subscript(self, node: ast.AST):
        if isinstance(node, ast.Tuple):
            return tuple(self.index_item(e) for e in node.elts)
        return self.index_item(node)

    def index_item(self, node: ast.AST):
        if isinstance(node, ast.Slice):
            parts = [None if p is None else self.index_expr(p) for p in (node.lower, node.upper, node.step)]
            step = parts[2]
            if step is not None:
                if not step.is_Integer:
                    self.fail("a slice step must be a positive integer", node.step)
                step = int(step)
            return slice(parts[0], parts[1], step)
        if isinstance(node, ast.Constant) and node.value is None:
            return None
        return self.index_expr(node)

    def index_expr(self, node: ast.AST) -> sympy.Expr:
        """An integer expression of sizes, summation indices and integers."""
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int):
                self.fail("indices must be integers", node)
            if abs(node.value) > 10**15:
                self.fail("index too large", node)
            return sympy.Integer(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.indices:
                return self.indices[node.id]
            if node.id in self.dims:
                return self.dims[node.id]
            self.fail(f"{node.id!r} is not a size or a summation index", node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.index_expr(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)):
            a, b = self.index_expr(node.left), self.index_expr(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                if not (a.is_Integer or b.is_Integer):
                    self.fail("an index may multiply a size or an index only by an integer", node)
                return a * b
            if not b.is_Integer or b == 0:
                self.fail("'//' in an index needs a nonzero integer divisor", node)
            return sympy.floor(a / b)
        self.fail("an index must be an integer expression of sizes and summation indices", node)

    # --- calls ---------------------------------------------------------------------------------
    def call(self, node: ast.Call, depth: int):
        if not isinstance(node.func, ast.Name):
            self.fail("only named functions can be called", node)
        name = node.func.id
        if name in self.leaves or name in self.dims:
            self.fail(f"{name!r} is an array, not a function", node)
        if any(isinstance(a, ast.Starred) for a in node.args):
            self.fail("'*' unpacking is not allowed", node)
        if name in ARRAY_FUNCTIONS:
            return self.array_call(node, name, depth)
        fn = ALLOWED_FUNCTIONS.get(name)
        if fn is None:
            self.fail(f"unknown function {name!r}; the functions are "
                      f"{', '.join(sorted(set(ALLOWED_FUNCTIONS) | set(ARRAY_FUNCTIONS)))}", node)
        if node.keywords:
            self.fail(f"{name} takes no keyword arguments", node)
        arity = FUNCTION_ARITY.get(name, 1)
        if len(node.args) != arity:
            self.fail(f"{name} takes {arity} argument{'s' if arity > 1 else ''}, got {len(node.args)}", node)
        args = [self.convert(a, depth) for a in node.args]
        return ops.FUNCTIONS[name](*args)

    def array_call(self, node: ast.Call, name: str, depth: int):
        fn, (lo, hi), takes_axis = ARRAY_FUNCTIONS[name]
        kwargs = {}
        for kw in node.keywords:
            if kw.arg != "axis" or not takes_axis:
                self.fail(f"{name} takes no keyword {kw.arg!r}" + (" (only axis=)" if takes_axis else ""), node)
            kwargs["axis"] = self.axis(kw.value)
        if not lo <= len(node.args) <= hi:
            self.fail(f"{name} takes {lo if lo == hi else f'{lo} or {hi}'} arguments, got {len(node.args)}", node)
        if name == "sum" and len(node.args) == 2:
            return self.index_sum(node, depth)
        args = [self.convert(a, depth) for a in node.args]
        return fn(*args, **kwargs)

    def axis(self, node: ast.AST):
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return -node.operand.value
        if isinstance(node, ast.Tuple):
            return tuple(self.axis(e) for e in node.elts)
        self.fail("axis must be an integer or a tuple of integers", node)

    def index_sum(self, node: ast.Call, depth: int):
        term, spec = node.args
        if not (isinstance(spec, ast.Tuple) and len(spec.elts) == 3 and isinstance(spec.elts[0], ast.Name)):
            self.fail("an index sum is written sum(term, (i, lo, hi))", spec)
        index_name = spec.elts[0].id
        if index_name in self.leaves or index_name in self.dims or index_name in self.indices:
            self.fail(f"the summation index {index_name!r} is already a name of the formula", spec.elts[0])
        from ..parsing import is_safe_name

        if not is_safe_name(index_name):
            self.fail(f"{index_name!r} cannot name a summation index", spec.elts[0])
        lo = self.index_expr(spec.elts[1])
        hi = self.index_expr(spec.elts[2])
        i = IndexSymbol(index_name, integer=True)
        self.indices[index_name] = i
        try:
            body = self.convert(term, depth)
        finally:
            del self.indices[index_name]
        return ops.index_sum(body, i, lo, hi)


def parse_array_formula(text: str, leaves: Mapping[str, Leaf], dims: Mapping[str, Dim]) -> Node:
    """Parse ``text`` into an array formula over the declared ``leaves`` (name -> Leaf) and
    sizes ``dims`` (name -> Dim)."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a str, got {type(text).__name__}")
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"the formula is {len(text)} characters long; the limit is "
                           f"{MAX_FORMULA_LENGTH}")
    converter = _Converter(text, leaves, dims)
    result = converter.convert(converter.tree.root)
    if not isinstance(result, Node):
        result = as_node(result)
    return result
