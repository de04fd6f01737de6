"""Formula text -> SymPy expression: the bracket scan, the ``ast`` whitelist walk
and the builder that makes the expression (:func:`parse_formula`)."""

from __future__ import annotations

import ast
import difflib
import math
import re
from fractions import Fraction
from typing import Callable, Mapping, NoReturn

import sympy

from ..errors import FormulaError, FormulaWarning, warn
from ..functions import (
    ALLOWED_CONSTANTS,
    ALLOWED_FUNCTIONS,
    FLOAT_CONSTANTS,
    FLOAT_FUNCTIONS,
    FUNCTION_ARITY,
    RESERVED_NAMES,
)
from .constants import (
    _ADDITIVE,
    _BAD_VALUES,
    _MULTIPLICATIVE,
    _beyond_double,
    _digits,
    _float_product,
    _format_digits,
    _group,
)
from .limits import MAX_FORMULA_LENGTH, MAX_NESTING_DEPTH, MAX_NUMBER_DIGITS
from .names import _look_alike_warning, _name_problem, _normalize, make_symbol

# Hints for names people reach for that are spelled differently here.
_FUNCTION_HINTS: dict[str, str] = {
    "ln": "log is the natural logarithm: write log(x)",
    "arcsin": "write asin(x)",
    "arccos": "write acos(x)",
    "arctan": "write atan(x)",
    "arctan2": "write atan2(y, x)",
    "arcsinh": "write asinh(x)",
    "arccosh": "write acosh(x)",
    "arctanh": "write atanh(x)",
    "fabs": "write abs(x)",
    "expit": "write sigmoid(x)",
    "logistic": "write sigmoid(x)",
    "pow": "write x**y",
    "square": "write x**2",
    "min": "min and max are not differentiable; use a smooth form such as softplus",
    "max": "min and max are not differentiable; use a smooth form such as softplus",
    "Min": "min and max are not differentiable; use a smooth form such as softplus",
    "Max": "min and max are not differentiable; use a smooth form such as softplus",
    "cbrt": "write x**(1/3) (for x >= 0)",
    "log10": "write log(x)/log(10)",
    "log2": "write log(x)/log(2)",
}

# Characters pasted from documents that Python refuses, and what to type instead.
_CHARACTER_HINTS: dict[str, str] = {
    "\u2212": "-",
    "\u2013": "-",
    "\u00d7": "*",
    "\u22c5": "*",
    "\u00b7": "*",
    "\u00f7": "/",
    "\u00b2": "**2",
    "\u00b3": "**3",
    "\u00a0": "an ordinary space",
}

_REJECTED_NODES: dict[type, str] = {
    ast.Subscript: "indexing (x[...]) is not supported in formulas here",
    ast.Slice: "slices are not supported in formulas",
    ast.Lambda: "lambda expressions are not allowed in a formula",
    ast.ListComp: "comprehensions are not allowed in a formula",
    ast.SetComp: "comprehensions are not allowed in a formula",
    ast.DictComp: "comprehensions are not allowed in a formula",
    ast.GeneratorExp: "comprehensions are not allowed in a formula",
    ast.List: "lists are not allowed: a formula is one scalar expression",
    ast.Set: "sets are not allowed: a formula is one scalar expression",
    ast.Dict: "dicts are not allowed: a formula is one scalar expression",
    ast.Tuple: (
        "a formula is one expression, not several separated by ',' "
        "(the decimal separator is '.')"
    ),
    ast.JoinedStr: "strings (f-strings) are not allowed in a formula",
    ast.FormattedValue: "strings (f-strings) are not allowed in a formula",
    ast.Starred: "'*' unpacking is not allowed in a formula",
    ast.NamedExpr: "assignment (':=') is not allowed in a formula",
    ast.IfExp: "conditional expressions (a if c else b) are not allowed in a formula",
    ast.BoolOp: "boolean operators ('and', 'or') are not allowed in a loss",
    ast.Compare: (
        "comparisons ('<', '==', ...) are not allowed in a loss: "
        "a loss is one number to minimise"
    ),
    ast.Await: "'await' is not allowed in a formula",
    ast.Yield: "'yield' is not allowed in a formula",
    ast.YieldFrom: "'yield' is not allowed in a formula",
}

_BINOP_MESSAGES: dict[type, tuple[str, str]] = {
    ast.BitXor: ("^", "'^' is not a power here (in Python it is bitwise xor): use '**' for powers, as in x**2"),
    ast.Mod: ("%", "'%' (modulo) is not supported in a formula"),
    ast.FloorDiv: ("//", "'//' (floor division) is not supported in a formula: use '/'"),
    ast.MatMult: ("@", "'@' (matrix multiplication) is not supported in a formula"),
    ast.BitAnd: ("&", "bitwise '&' is not supported in a formula"),
    ast.BitOr: ("|", "bitwise '|' is not supported in a formula"),
    ast.LShift: ("<<", "bitwise '<<' is not supported in a formula"),
    ast.RShift: (">>", "bitwise '>>' is not supported in a formula"),
}

_ALLOWED_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)

# Exact roots (x**(p/q), q > 1) of rationals: most digits per number, and in all.
_MAX_ROOT_DIGITS = 100
_ROOT_DIGITS_BUDGET = 2000


# Characters the bracket scan looks at.
_SCAN_RE = re.compile(r"[()\[\]{}#'\"\x00]")



# ---------------------------------------------------------------------------
# Formulas
# ---------------------------------------------------------------------------


def parse_formula(
    text: str,
    *,
    local_symbols: Mapping[str, sympy.Expr] | None = None,
) -> sympy.Expr:
    """Parse untrusted formula text into a SymPy expression, without evaluating it.

    Admitted: integer and decimal numbers, names, ``+ - * / **``, unary ``-`` and
    ``+``, parentheses, and calls of the functions in
    :data:`symopt.functions.ALLOWED_FUNCTIONS` with positional arguments.
    Everything else (attributes, indexing, strings, lambdas, comprehensions,
    comparisons, ``^``, ``%``, ``//``, unknown functions, names starting with
    ``_`` ...) is refused with a :class:`~symopt.errors.FormulaError` that points
    at the offending part.  The text may span several lines and carry ``#``
    comments.

    Integers stay exact (``1/2`` is ``Rational(1, 2)``, ``x**2`` has an integer
    exponent); decimals become ``sympy.Float`` with the exact value of the double.
    Names are real symbols (:func:`make_symbol`), except the constants (``pi``, ``e``,
    ``E`` ...); the reserved names (``I``, ``nan``, ``oo`` ...) are refused; unless
    ``local_symbols`` declares them.  Every constant part must be a finite real double.

    Parameters
    ----------
    text : str
        The formula, e.g. ``"(1 - x)**2 + 100*(y - x**2)**2"``.
    local_symbols : mapping of str to sympy.Expr, optional
        Names to map to given SymPy objects (usually symbols) instead of new real
        symbols.

    Returns
    -------
    sympy.Expr

    Raises
    ------
    FormulaError
        If the text is not a formula symopt admits, is too long or too deeply
        nested, or produces an infinite, undefined or complex constant.

    Examples
    --------
    >>> parse_formula("(1 - x)**2 + 100*(y - x**2)**2")
    (1 - x)**2 + 100*(-x**2 + y)**2
    >>> parse_formula("1/2 + softplus(w*t)")
    softplus(t*w) + 1/2
    >>> parse_formula("x ^ 2")
    Traceback (most recent call last):
        ...
    symopt.errors.FormulaError: '^' is not a power here (in Python it is bitwise xor): use '**' for powers, as in x**2
        x ^ 2
          ^
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula must be a str, got {type(text).__name__}")
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaError(
            f"the formula is {len(text)} characters long; the limit is {MAX_FORMULA_LENGTH} "
            "(symopt.parsing.MAX_FORMULA_LENGTH)"
        )
    local = _check_local_symbols(local_symbols)
    _scan(text)
    tree = _FormulaTree(text)
    return _Builder(tree, local).build()


def _check_local_symbols(local_symbols: Mapping[str, sympy.Expr] | None) -> dict[str, sympy.Expr]:
    if local_symbols is None:
        return {}
    if not isinstance(local_symbols, Mapping):
        raise FormulaError(
            f"local_symbols must be a dict of name -> SymPy symbol, got {type(local_symbols).__name__}"
        )
    local: dict[str, sympy.Expr] = {}
    for name, value in local_symbols.items():
        if isinstance(name, str):
            name = _normalize(name)
        problem = _name_problem(name)
        if problem is not None:
            raise FormulaError(f"local_symbols: {problem}")
        if not isinstance(value, sympy.Expr):
            raise FormulaError(
                f"local_symbols[{name!r}] must be a SymPy expression (usually a Symbol), "
                f"got {type(value).__name__}"
            )
        local[name] = value
    return local


def _fail(message: str, text: str, offset: int | None) -> NoReturn:
    if offset is not None and "\n" in text:
        line = text.count("\n", 0, offset) + 1
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        message = f"{message} (line {line}, column {column})"
    raise FormulaError(message, text=text, offset=offset)


def _scan(text: str) -> None:
    """Cheap linear checks before Python's parser sees the text.

    Refuses empty text, NUL characters, unencodable characters, unbalanced
    brackets and brackets nested deeper than MAX_NESTING_DEPTH.  Skips comments
    and string literals (which the tree walk refuses later, in source order).
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        _fail("the formula contains a character that is not valid text (a lone surrogate)",
              text, exc.start)
    opened: list[int] = []
    n = len(text)
    skip_to = 0
    for m in _SCAN_RE.finditer(text):
        i = m.start()
        if i < skip_to:
            continue
        c = text[i]
        if c in "([{":
            opened.append(i)
            if len(opened) > MAX_NESTING_DEPTH:
                _fail(
                    f"the formula is nested too deeply: more than {MAX_NESTING_DEPTH} levels of "
                    "brackets (symopt.parsing.MAX_NESTING_DEPTH)",
                    text, i,
                )
        elif c in ")]}":
            if not opened:
                _fail(f"unmatched {c!r}", text, i)
            opened.pop()
        elif c == "#":
            newline = text.find("\n", i)
            skip_to = n if newline < 0 else newline
        elif c == "\x00":
            _fail("the formula contains a NUL character", text, i)
        else:  # a quote: skip the string literal; the tree walk will refuse it
            end = _string_end(text, i)
            if end is None:
                return  # unterminated: Python's parser reports it
            skip_to = end
    if opened:
        _fail(f"{text[opened[-1]]!r} was never closed", text, opened[-1])
    code = re.sub(r"#[^\n]*", "", text)
    if not code.strip(" \t\n\r\f\\"):
        _fail("the formula is empty", text, None)


def _string_end(text: str, i: int) -> int | None:
    """Offset just past the string literal whose opening quote is at ``i``."""
    quote = text[i]
    delimiter = quote * 3 if text.startswith(quote * 3, i) else quote
    j = i + len(delimiter)
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "\n" and len(delimiter) == 1:
            return None
        if text.startswith(delimiter, j):
            return j + len(delimiter)
        j += 1
    return None


class _FormulaTree:
    """The parsed tree of a formula, with offsets mapped back to the original text."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Wrapping in parentheses lets a formula span lines and start with spaces;
        # the bracket scan has already made sure the text's brackets balance, so the
        # wrapper cannot pair with a bracket of the text.  "\r" is turned into "\n"
        # (same length) so lines are counted the same way everywhere.
        source = "(" + text.replace("\r\n", " \n").replace("\r", "\n").replace("\u00a0", " ") + "\n)"
        self.source = source
        self.lines = source.split("\n")
        self.line_starts = [0]
        for line in self.lines[:-1]:
            self.line_starts.append(self.line_starts[-1] + len(line) + 1)
        self.ascii = source.isascii()
        self._byte_tables: dict[int, list[int]] = {}
        try:
            self.root: ast.expr = ast.parse(source, mode="eval").body
        except SyntaxError as exc:
            self._syntax_error(exc)
        except (RecursionError, MemoryError):
            _fail(
                "the formula is too complex for Python's parser: nesting deeper than "
                f"{MAX_NESTING_DEPTH} levels, or a chain of thousands of operators; build "
                "very long sums with SymPy instead",
                text, None,
            )
        except ValueError as exc:  # e.g. NUL bytes in older Pythons
            _fail(f"the formula cannot be parsed: {exc}", text, None)

    def offset(self, lineno: int, col_bytes: int) -> int:
        """Offset in the original text of (line, UTF-8 byte column) of the source."""
        index = min(max(lineno, 1), len(self.lines)) - 1
        col = col_bytes if self.ascii else self._char_column(index, col_bytes)
        return self._clamp(self.line_starts[index] + col)

    def _char_column(self, index: int, col_bytes: int) -> int:
        # ast columns count UTF-8 bytes; map them to characters through a per-line
        # table built once, so that many lookups on a long line stay linear overall.
        table = self._byte_tables.get(index)
        if table is None:
            table = []
            for k, ch in enumerate(self.lines[index]):
                code = ord(ch)
                table.extend([k] * (1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4))
            table.append(len(self.lines[index]))
            self._byte_tables[index] = table
        return table[min(max(col_bytes, 0), len(table) - 1)]

    def _clamp(self, source_offset: int) -> int:
        return min(max(source_offset - 1, 0), len(self.text))

    def start(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)

    def end(self, node: ast.AST) -> int:
        end_lineno = node.end_lineno if node.end_lineno is not None else node.lineno
        end_col = node.end_col_offset if node.end_col_offset is not None else node.col_offset
        return self.offset(end_lineno, end_col)

    def segment(self, node: ast.AST) -> str:
        return self.text[self.start(node):self.end(node)]

    def _syntax_error(self, exc: SyntaxError) -> NoReturn:
        message = exc.msg or "invalid syntax"
        if message.startswith("invalid syntax. Perhaps you forgot a comma"):
            message = "invalid syntax: is an operator missing? (write 2*x, not 2x or 2 x)"
        elif message == "invalid decimal literal":
            message += " (implicit multiplication is not supported: write 2*x, not 2x)"
        elif "(U+" in message:
            for char, replacement in _CHARACTER_HINTS.items():
                if f"U+{ord(char):04X}" in message:
                    message += f": type {replacement} instead"
                    break
        offset = None
        if exc.lineno is not None:
            lineno = min(max(exc.lineno, 1), len(self.lines))
            col = max((exc.offset or 1) - 1, 0)  # SyntaxError.offset: 1-based, characters
            offset = self._clamp(self.line_starts[lineno - 1] + col)
        _fail(f"syntax error: {message}", self.text, offset)


class _Builder:
    """Validate a formula tree against the whitelist, then build the SymPy expression."""

    def __init__(self, tree: _FormulaTree, local: dict[str, sympy.Expr]) -> None:
        self.tree = tree
        self.text = tree.text
        self.local = local
        self.symbols: dict[str, sympy.Expr] = {}
        self.root_digits = 0.0  # digits of the numbers whose exact roots were taken
        # the float64 value of every constant node (no variable below it), computed
        # bottom-up before SymPy sees the node: SymPy never evaluates a constant that is
        # not a finite real double (its evalf of exp(exp(exp(exp(3)))) never ends)
        self.values: dict[ast.AST, float] = {}
        self.names: set[str] = set()  # every name the text uses

    def fail(self, message: str, offset: int | None) -> NoReturn:
        _fail(message, self.text, offset)

    def build(self) -> sympy.Expr:
        self.validate(self.tree.root)
        expr = self.convert(self.tree.root)
        message = _look_alike_warning(self.names)
        if message is not None:
            warn(message, FormulaWarning)
        bad = [v for v in _BAD_VALUES if expr.has(v)]
        if bad:
            self.fail(
                f"the formula contains an infinite or undefined value ({bad[0]}), "
                "as from 1/0 or log(0)",
                None,
            )
        if expr.has(sympy.I):
            self.fail("the formula has a complex value, as from sqrt(-1); a loss must be real", None)
        return expr

    # --- pass 1: the whitelist ------------------------------------------------------

    def validate(self, root: ast.expr) -> None:
        """Walk the tree without recursion; report the refused part that comes first."""
        errors: list[tuple[int, str]] = []
        stack: list[tuple[ast.AST, int]] = [(root, 1)]
        while stack and len(errors) < 100:
            node, depth = stack.pop()
            if depth > MAX_NESTING_DEPTH:
                self.fail(
                    f"the formula is nested too deeply: more than {MAX_NESTING_DEPTH} levels, "
                    "deeper than deriving and printing it can go (each bracket, call or "
                    "operator inside another opens a level, a power '**' two; "
                    "symopt.parsing.MAX_NESTING_DEPTH)",
                    self.tree.start(node),
                )
            children: list[tuple[ast.AST, int]] = []
            problem = self.check_node(node, depth, children)
            if problem is not None:
                errors.append(problem)
            stack.extend(reversed(children))
        if errors:
            offset, message = min(errors, key=lambda e: e[0])
            self.fail(message, offset)

    def check_node(
        self, node: ast.AST, depth: int, children: list[tuple[ast.AST, int]]
    ) -> tuple[int, str] | None:
        """The problem with ``node`` (offset, message), or None; queue its children."""
        start = self.tree.start(node) if hasattr(node, "lineno") else 0
        if isinstance(node, ast.Constant):
            return self.check_constant(node, start)
        if isinstance(node, ast.Name):
            return self.check_name(node.id, start, called=False)
        if isinstance(node, ast.BinOp):
            group = _group(node.op)
            same = group is not None and isinstance(node.left, ast.BinOp) and _group(node.left.op) == group
            # a chain a + b + c ... is one level, however long; a power counts two (its
            # derivatives recurse about twice as deep as those of other operations)
            step = 2 if isinstance(node.op, ast.Pow) else 1
            children.append((node.left, depth if same else depth + step))
            children.append((node.right, depth + step))
            if isinstance(node.op, _ALLOWED_BINOPS):
                return None
            symbol, message = _BINOP_MESSAGES.get(
                type(node.op), ("", f"the operator {type(node.op).__name__} is not allowed")
            )
            return self.operator_offset(node, symbol), message
        if isinstance(node, ast.UnaryOp):
            children.append((node.operand, depth + 1))
            if isinstance(node.op, (ast.USub, ast.UAdd)):
                return None
            if isinstance(node.op, ast.Not):
                return start, "boolean 'not' is not allowed in a loss"
            return start, "bitwise '~' is not supported in a formula"
        if isinstance(node, ast.Call):
            return self.check_call(node, depth, start, children)
        if isinstance(node, ast.Attribute):
            children.append((node.value, depth + 1))
            end = self.tree.end(node)
            return max(end - len(node.attr), start), f"attribute access ('.{node.attr}') is not allowed in a formula"
        # refused outright; still look inside, so the first problem in the text is reported
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                children.append((child, depth + 1))
        message = _REJECTED_NODES.get(type(node), f"{type(node).__name__} is not allowed in a formula")
        if isinstance(node, ast.Tuple) and not node.elts:
            message = "empty parentheses '()' are not allowed in a formula"
        return start, message

    def check_constant(self, node: ast.Constant, start: int) -> tuple[int, str] | None:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            return start, f"{value!r} is not allowed in a formula: only numbers, names and functions"
        if isinstance(value, (str, bytes)):
            return start, "strings are not allowed in a formula"
        if isinstance(value, complex):
            return start, f"imaginary numbers ({self.tree.segment(node)!r}) are not allowed: a loss is real"
        if isinstance(value, int):
            if _digits(value) > MAX_NUMBER_DIGITS:
                return start, (
                    f"the number has more than {MAX_NUMBER_DIGITS} digits "
                    "(symopt.parsing.MAX_NUMBER_DIGITS)"
                )
            return None
        if isinstance(value, float):
            literal = self.tree.segment(node)
            if not math.isfinite(value):
                return start, f"the number {literal} is out of the range of a double (about 1.8e308)"
            mantissa = re.split(r"[eE]", literal)[0]
            if value == 0.0 and re.search(r"[1-9]", mantissa):
                return start, f"the number {literal} is too small for a double: it would be 0"
            return None
        return start, f"the constant {value!r} is not allowed in a formula"

    def check_name(self, name: str, start: int, *, called: bool) -> tuple[int, str] | None:
        if name.startswith("_") or "__" in name:
            return start, f"names may not start with '_' or contain '__': {name!r} is not allowed"
        if name in RESERVED_NAMES and name not in self.local and not called:
            return start, (
                f"{name!r} is {RESERVED_NAMES[name]}; it is not a variable unless declared as "
                f"one (for a variable or parameter named {name}, list it in wrt= or params=)")
        if not called and name in ALLOWED_FUNCTIONS and name not in self.local:
            return start, f"{name!r} is a function: call it, as in {name}(x)"
        return None

    def check_call(
        self, node: ast.Call, depth: int, start: int, children: list[tuple[ast.AST, int]]
    ) -> tuple[int, str] | None:
        for arg in node.args:
            children.append((arg, depth + 1))
        for kw in node.keywords:
            children.append((kw.value, depth + 1))
        func = node.func
        if not isinstance(func, ast.Name):
            children.insert(0, (func, depth + 1))
            if isinstance(func, ast.Attribute):
                return None  # reported as an attribute
            return start, (
                "only the allowed functions can be called, by name, as in exp(x); "
                "to multiply, write '*'"
            )
        name = func.id
        problem = self.check_name(name, start, called=True)
        if problem is not None:
            return problem
        if name not in ALLOWED_FUNCTIONS:
            return start, self.unknown_function_message(name)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                return self.tree.start(arg), "'*' unpacking is not allowed in a formula"
        if node.keywords:
            kw = node.keywords[0]
            where = self.tree.start(kw) if getattr(kw, "lineno", None) else start
            if kw.arg is None:
                return where, "'**' unpacking is not allowed in a formula"
            return where, f"keyword arguments are not allowed: pass the arguments of {name}() by position"
        arity = FUNCTION_ARITY[name]
        if len(node.args) != arity:
            plural = "" if arity == 1 else "s"
            return start, f"{name}() takes {arity} argument{plural} ({len(node.args)} given)"
        return None

    def unknown_function_message(self, name: str) -> str:
        message = f"unknown function {name!r}"
        if name in self.local or name in ALLOWED_CONSTANTS:
            message += f" ({name!r} is a variable or constant; to multiply, write {name}*(...))"
        elif name in _FUNCTION_HINTS:
            message += f" ({_FUNCTION_HINTS[name]})"
        else:
            close = difflib.get_close_matches(name, sorted(ALLOWED_FUNCTIONS), n=3, cutoff=0.6)
            if close:
                message += f"; did you mean {' or '.join(map(repr, close))}?"
            else:
                message += f" (to multiply, write {name}*(...))"
        return message + f"; allowed functions are: {', '.join(sorted(ALLOWED_FUNCTIONS))}"

    def operator_offset(self, node: ast.BinOp, symbol: str) -> int:
        """Offset of the operator of ``node``: first token between its operands."""
        begin, stop = self.tree.end(node.left), self.tree.start(node.right)
        i = begin
        while i < stop:
            c = self.text[i]
            if c == "#":
                newline = self.text.find("\n", i, stop)
                i = stop if newline < 0 else newline
            elif c in " \t\r\n\f)\\":
                i += 1
            else:
                return i
        return self.tree.start(node)

    # --- pass 2: the SymPy expression -------------------------------------------------

    def convert(self, node: ast.expr) -> sympy.Expr:
        """SymPy expression of a validated node (recursion depth <= MAX_NESTING_DEPTH)."""
        if isinstance(node, ast.Constant):
            value = node.value
            self.constant(node, [], lambda: float(value))
            return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)
        if isinstance(node, ast.Name):
            expr = self.name(node.id)
            value = self.name_value(node.id, expr)
            if value is not None:
                self.values[node] = value
            return expr
        if isinstance(node, ast.UnaryOp):
            operand = self.convert(node.operand)
            negate = isinstance(node.op, ast.USub)
            self.constant(node, [node.operand], lambda v: -v if negate else v)
            return -operand if negate else operand
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, _ADDITIVE):
                return self.sum(node)
            if isinstance(node.op, _MULTIPLICATIVE):
                return self.product(node)
            return self.power(node)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            args = [self.convert(arg) for arg in node.args]
            self.constant(node, node.args, FLOAT_FUNCTIONS[node.func.id])
            if node.func.id == "sqrt":
                self.charge_roots(args[0], node)
            result = self.apply(node, ALLOWED_FUNCTIONS[node.func.id], *args)
            self.check_value(result, node)
            return result
        raise AssertionError(f"unvalidated node {type(node).__name__}")  # pragma: no cover

    def name(self, name: str) -> sympy.Expr:
        self.names.add(name)
        if name in self.local:
            return self.local[name]
        if name in ALLOWED_CONSTANTS:
            return ALLOWED_CONSTANTS[name]
        symbol = self.symbols.get(name)
        if symbol is None:
            symbol = self.symbols[name] = make_symbol(name)
        return symbol

    def name_value(self, name: str, expr: sympy.Expr) -> float | None:
        """The float64 value of a name that is a constant, else None."""
        if name in self.local:
            return float(expr) if expr.is_Number and expr.is_finite else None
        return FLOAT_CONSTANTS.get(name)

    def constant(self, node: ast.expr, operands: list[ast.expr], evaluate: Callable[..., float]) -> None:
        """If every operand of ``node`` is constant, its float64 value ``evaluate(*values)``,
        kept for the nodes above; refused (naming the part) unless a finite real double."""
        if not all(operand in self.values for operand in operands):
            return
        try:
            value = evaluate(*(self.values[operand] for operand in operands))
        except OverflowError:
            value = math.inf
        except (ValueError, ZeroDivisionError):
            value = math.nan
        if not isinstance(value, float):  # a complex power, as (-8.0)**(1/3)
            value = float(value) if isinstance(value, int) else math.nan
        if not math.isfinite(value):
            part = self.tree.segment(node)
            if len(part) > 60:
                part = part[:28] + " ... " + part[-27:]
            if math.isnan(value):
                problem = ("is not a finite real number (a function applied outside its "
                           "domain, as in acos(2), log(0) or sqrt(-1))")
            else:
                problem = "overflows a double (it is beyond about 1.8e308)"
            self.fail(f"the constant {part} {problem}; every constant part of a formula "
                      "must be a finite real double", self.tree.start(node))
        self.values[node] = value

    def chain(self, node: ast.BinOp, ops: tuple[type, ...]) -> list[tuple[ast.operator, ast.expr]]:
        """Flatten a left-leaning chain ``a op b op c ...``: [(None, a), (op, b), ...]."""
        links: list[tuple[ast.operator, ast.expr]] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp) and isinstance(current.op, ops):
            links.append((current.op, current.right))
            current = current.left
        links.append((None, current))  # type: ignore[arg-type]
        links.reverse()
        return links

    def sum(self, node: ast.BinOp) -> sympy.Expr:
        terms = [
            -self.convert(term) if isinstance(op, ast.Sub) else self.convert(term)
            for op, term in self.chain(node, _ADDITIVE)
        ]
        # Adding fractions with different denominators grows the common denominator.
        numerators, denominators = [], set()
        for term in terms:
            coeff = term.as_coeff_Mul()[0]
            if coeff.is_Rational:
                numerators.append(_digits(coeff.p))
                if coeff.q > 1:
                    denominators.add(coeff.q)
        size = max(numerators, default=0) + sum(map(_digits, denominators)) + math.log10(len(terms))
        self.check_size(size, node)
        links = self.chain(node, _ADDITIVE)
        signs = [-1.0 if isinstance(op, ast.Sub) else 1.0 for op, _ in links]
        self.constant(node, [term for _, term in links],
                      lambda *values: math.fsum(s * v for s, v in zip(signs, values)))
        result = self.apply(node, sympy.Add, *terms)
        self.check_value(result, node)
        return result

    def product(self, node: ast.BinOp) -> sympy.Expr:
        factors = []
        size = 0.0
        for op, operand in self.chain(node, _MULTIPLICATIVE):
            factor = self.convert(operand)
            if isinstance(op, ast.Div):
                if factor.is_zero:
                    self.fail("division by zero", self.operator_offset_of(node, operand))
                factor = self.apply(node, sympy.Pow, factor, -1)
            coeff = factor.as_coeff_Mul()[0]
            if coeff.is_Rational:
                size += _digits(coeff.p) + _digits(coeff.q)
            if factor.is_Pow and factor.exp.is_Rational:  # x**(1/3)*x**(1/5)*...
                size += _digits(factor.exp.p) + _digits(factor.exp.q)
            factors.append(factor)
        self.check_size(size, node)
        links = self.chain(node, _MULTIPLICATIVE)
        self.constant(node, [operand for _, operand in links],
                      lambda *values: _float_product([op for op, _ in links], values))
        result = self.apply(node, sympy.Mul, *factors)
        self.check_value(result, node)
        return result

    def operator_offset_of(self, chain_root: ast.BinOp, operand: ast.expr) -> int:
        current: ast.expr = chain_root
        while isinstance(current, ast.BinOp):
            if current.right is operand:
                return self.operator_offset(current, "/")
            current = current.left
        return self.tree.start(operand)  # pragma: no cover

    def power(self, node: ast.BinOp) -> sympy.Expr:
        base = self.convert(node.left)
        exponent = self.convert(node.right)
        if exponent.is_Rational:
            # SymPy evaluates rational powers of rationals exactly, and distributes
            # integer powers over products ((2*x)**n = 2**n*x**n): 10**10**10 would
            # never finish.  Estimate the digits of the exact number it would make.
            weight = 0.0
            for factor in sympy.Mul.make_args(base):
                if factor.is_Rational:
                    weight += _digits(max(abs(factor.p), factor.q))
                elif factor.is_Pow and factor.base.is_Rational and factor.exp.is_Rational:
                    weight += _digits(max(abs(factor.base.p), factor.base.q)) * abs(
                        float(Fraction(int(factor.exp.p), int(factor.exp.q)))
                    )
            if exponent.q != 1:
                self.charge_roots(base, node)
            if weight > 0:
                try:
                    size = weight * abs(float(Fraction(int(exponent.p), int(exponent.q))))
                except OverflowError:
                    size = math.inf
                self.check_size(size, node)
        if exponent.is_zero is False and base.is_zero and exponent.is_negative:
            self.fail("division by zero (zero to a negative power)", self.operator_offset(node, "**"))
        self.constant(node, [node.left, node.right], math.pow)
        if node.left in self.values and node.right not in self.values and self.values[node.left] <= 0:
            # (-2)**x is complex for most x (its derivative holds log(-2) = log(2) + I*pi),
            # 0**x has no derivative at all
            self.fail(f"the power {self.tree.segment(node)} of a constant that is not positive "
                      "is not a real, differentiable function of its exponent; write "
                      "exp(x*log(c)) with c > 0, or an integer power", self.tree.start(node))
        result = self.apply(node, sympy.Pow, base, exponent)
        self.check_value(result, node)
        return result

    def apply(self, node: ast.expr, operation: Callable[..., sympy.Expr], *args: object) -> sympy.Expr:
        """``operation(*args)``; SymPy's numerical failures become a FormulaError at ``node``."""
        try:
            return operation(*args)
        except (ArithmeticError, MemoryError, RecursionError, TypeError, ValueError) as exc:
            # e.g. cosh(cosh(cosh(1000.0))): mpmath cannot evaluate numbers that large;
            # or a SymPy evaluation that trips over a NaN.  Untrusted text must not
            # escape as anything but a FormulaError.
            self.fail(
                f"this part of the formula cannot be evaluated ({type(exc).__name__}: {exc})",
                self.tree.start(node),
            )

    def charge_roots(self, base: sympy.Expr, node: ast.expr) -> None:
        """Exact roots of big numbers are slow in SymPy (it factors them): bound them."""
        for factor in sympy.Mul.make_args(base):
            number = factor.base if factor.is_Pow else factor
            if number.is_Rational:
                digits = _digits(max(abs(number.p), number.q))
                self.root_digits += digits
                if digits > _MAX_ROOT_DIGITS or self.root_digits > _ROOT_DIGITS_BUDGET:
                    self.fail(
                        f"exact roots of numbers this large are not supported (more than "
                        f"{_MAX_ROOT_DIGITS} digits, or {_ROOT_DIGITS_BUDGET} in all); "
                        "write the number as a decimal, such as 1e150",
                        self.tree.start(node),
                    )

    def check_size(self, digits: float, node: ast.BinOp) -> None:
        if digits > MAX_NUMBER_DIGITS:
            self.fail(
                f"number too large: exact arithmetic here would make a number of about "
                f"{_format_digits(digits)} digits; the limit is {MAX_NUMBER_DIGITS} "
                "(symopt.parsing.MAX_NUMBER_DIGITS)",
                self.tree.start(node),
            )

    def check_value(self, value: sympy.Expr, node: ast.expr) -> None:
        if value in _BAD_VALUES:
            self.fail(f"this part of the formula is infinite or undefined ({value})", self.tree.start(node))
        if value.is_number and value.has(sympy.I):
            self.fail(
                f"this part of the formula is complex ({value}); a loss must be real",
                self.tree.start(node),
            )
        # SymPy may fold an overflowing number anywhere below this node (expm1(x + 710)
        # becomes 2.2e308*exp(x) - 1, (2*x)**1100 becomes 2**1100*x**1100), so look at
        # every number it holds
        if any(_beyond_double(number) for number in value.atoms(sympy.Number)):
            self.fail(
                "this part of the formula makes a number beyond the range of a double (about 1.8e308)",
                self.tree.start(node),
            )
