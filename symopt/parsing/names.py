"""Names: what may name a variable (:func:`is_safe_name`), the symbol it becomes
(:func:`make_symbol`), and name lists (:func:`parse_names`: ``"x0:3 y"``), with the
look-alike-letter warning."""

from __future__ import annotations

import keyword
import re
import unicodedata
from typing import Iterable, Mapping, Union

import sympy

from ..errors import FormulaError
from ..functions import (
    ALLOWED_FUNCTIONS,
)
from .limits import MAX_NAMES

NameSpec = Union[str, sympy.Symbol, Iterable[Union[str, sympy.Symbol]]]


# Letters of other scripts drawn like a Latin letter in common fonts -> that letter
# (Cyrillic and Greek homoglyphs; Greek letters that look different, such as alpha or
# nu, are left out so that "alpha*a" written with Greek letters raises no warning).
_HOMOGLYPHS: dict[str, str] = {
    **dict(zip("аеорсухіјѕԁһԛԝӏ", "aeopcyxijsdhqwl")),  # Cyrillic small
    **dict(zip("АВЕКМНОРСТХІЈЅ", "ABEKMHOPCTXIJS")),  # Cyrillic capital
    **dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧο", "ABEZHIKMNOPTYXo")),  # Greek
}


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------


def _normalize(name: str) -> str:
    # Python's parser normalizes identifiers to NFKC ("ﬁ" -> "fi"); names given
    # separately must be normalized the same way to match.
    return unicodedata.normalize("NFKC", name)


def _name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a variable, or None if it can."""
    if not isinstance(name, str):
        return f"a name must be a str, got {type(name).__name__}"
    if not name.isidentifier():
        return (
            f"{name!r} is not a valid name: use letters, digits and '_', "
            "not starting with a digit"
        )
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword and cannot be a name"
    if name.startswith("_") or "__" in name:
        return f"{name!r} is not allowed: names may not start with '_' or contain '__'"
    if name in ALLOWED_FUNCTIONS:
        return f"{name!r} is the name of a function and cannot be a variable"
    return None


def _look_alike_warning(names: Iterable[str]) -> str | None:
    """A warning when the names of a formula mix look-alike letters of different scripts
    (Cyrillic 'а' and Latin 'a'): in one name, or across names; None otherwise."""
    names = sorted(set(names))
    latin = {c for name in names for c in name if c.isascii()}
    pairs: dict[tuple[str, str], tuple[str, str]] = {}
    for name in names:
        for c in name:
            twin = _HOMOGLYPHS.get(c)
            if twin is None or (c, twin) in pairs:
                continue
            if twin in latin or any(other.isascii() and other.isalpha() for other in name):
                where = next((n for n in names if twin in n), None)
                pairs[(c, twin)] = (name, where or name)
    if not pairs:
        return None
    described = [
        f"{c!r} ({unicodedata.name(c, '?').lower()}, in {name!r}) and {twin!r} "
        f"({unicodedata.name(twin, '?').lower()}{f', in {other!r}' if twin in other else ''})"
        for (c, twin), (name, other) in sorted(pairs.items())
    ]
    return ("the formula mixes letters of different scripts that look alike: "
            + "; ".join(described[:5])
            + ". They make different names; retype the letters if that is not meant.")


def is_safe_name(name: object) -> bool:
    """Whether ``name`` may name a variable or parameter of a formula.

    A safe name is a Python identifier that is not a keyword, does not start with
    ``_``, contains no ``__`` and is not the name of an allowed function.  The
    constants (``pi``, ``e``, ``E`` ...) and the reserved names (``I``, ``nan``,
    ``oo`` ...) are safe names: a variable declared with one of them takes its place.

    Parameters
    ----------
    name : object
        The candidate name.

    Returns
    -------
    bool

    Examples
    --------
    >>> is_safe_name("x1"), is_safe_name("theta")
    (True, True)
    >>> is_safe_name("__class__"), is_safe_name("exp"), is_safe_name("2x")
    (False, False, False)
    """
    return isinstance(name, str) and _name_problem(_normalize(name)) is None


def make_symbol(name: str) -> sympy.Symbol:
    """The SymPy symbol symopt uses for ``name``: ``Symbol(name, real=True)``.

    Formula parsing and :class:`symopt.Problem` both create symbols through this
    function, so the same name always gives the same (equal) symbol.

    Parameters
    ----------
    name : str
        A safe name (see :func:`is_safe_name`).

    Returns
    -------
    sympy.Symbol
        A real symbol.

    Raises
    ------
    FormulaError
        If the name is not safe.

    Examples
    --------
    >>> x = make_symbol("x")
    >>> x, x.is_real
    (x, True)
    """
    if isinstance(name, str):
        name = _normalize(name)
    problem = _name_problem(name)
    if problem is not None:
        raise FormulaError(problem)
    return sympy.Symbol(name, real=True)


_NUMERIC_RANGE = re.compile(r"(?P<prefix>\w*?)(?P<start>\d*):(?P<stop>\d+)\Z")
_LETTER_RANGE = re.compile(r"(?P<first>[A-Za-z]):(?P<last>[A-Za-z])\Z")


def _expand(token: str) -> list[str]:
    """One token of a names string: a name, or a range in SymPy's syntax."""
    if ":" not in token:
        return [token]
    m = _NUMERIC_RANGE.match(token)
    if m:
        start = int(m["start"]) if m["start"] else 0
        stop = int(m["stop"])
        if stop <= start:
            raise FormulaError(f"the range {token!r} is empty: the end must exceed the start")
        if stop - start > MAX_NAMES:
            raise FormulaError(
                f"the range {token!r} has {stop - start} names; the limit is {MAX_NAMES} "
                "(symopt.parsing.MAX_NAMES)"
            )
        return [f"{m['prefix']}{i}" for i in range(start, stop)]
    m = _LETTER_RANGE.match(token)
    if m:
        first, last = ord(m["first"]), ord(m["last"])
        if last < first:
            raise FormulaError(f"the range {token!r} is empty")
        return [chr(c) for c in range(first, last + 1) if chr(c).isalpha()]
    raise FormulaError(
        f"cannot read the range {token!r}: write 'w0:3' for w0, w1, w2 "
        "(or 'a:c' for a, b, c)"
    )


def parse_names(spec: NameSpec) -> list[str]:
    """Names of variables or parameters, from the forms users write.

    Parameters
    ----------
    spec : str, sympy.Symbol, or iterable of str / sympy.Symbol
        ``"x y"``, ``"x, y"``, ``"x,y"``; ranges in SymPy's syntax: ``"w0:3"`` is
        ``w0, w1, w2`` (end excluded), ``"x:2"`` is ``x0, x1`` and ``"a:c"`` is
        ``a, b, c``; a symbol; or a list mixing these.

    Returns
    -------
    list of str
        The names in the order given (NFKC-normalized, as Python's parser does).
        Duplicates are kept: the caller decides whether they are an error.

    Raises
    ------
    FormulaError
        If a name is not safe (see :func:`is_safe_name`), a range cannot be read
        or the spec has the wrong type.

    Examples
    --------
    >>> parse_names("x, y")
    ['x', 'y']
    >>> parse_names("w0:3 b")
    ['w0', 'w1', 'w2', 'b']
    >>> import sympy
    >>> parse_names([sympy.Symbol("a"), "c"])
    ['a', 'c']
    """
    if isinstance(spec, (str, sympy.Symbol)):
        items: list[object] = [spec]
    elif isinstance(spec, (bytes, bytearray, Mapping)) or not isinstance(spec, Iterable):
        raise FormulaError(
            "names must be a str such as 'x y' or 'w0:3', a sympy.Symbol, or a list "
            f"of these; got {type(spec).__name__}"
        )
    else:
        items = list(spec)
    names: list[str] = []
    for item in items:
        if isinstance(item, sympy.Symbol):
            raw = [item.name]
        elif isinstance(item, str):
            raw = [name for token in re.split(r"[\s,]+", item) if token for name in _expand(token)]
        else:
            raise FormulaError(
                f"each name must be a str or a sympy.Symbol, got {type(item).__name__}"
            )
        for name in raw:
            name = _normalize(name)
            problem = _name_problem(name)
            if problem is not None:
                raise FormulaError(problem)
            names.append(name)
            if len(names) > MAX_NAMES:
                raise FormulaError(f"more than {MAX_NAMES} names (symopt.parsing.MAX_NAMES)")
    return names
