"""The toolkit's files are data, never code: exact numbers by a grammar, JSON documents read field by field.

**Exact numbers** are written as sympy prints them (``str``) and read back by :func:`exact_from_text`, a
recursive-descent parser of exactly the numbers the toolkit writes — nothing is evaluated, no name is
looked up (``sympy.sympify`` evaluates Python and was the hole this module closes)::

    sum      := product (('+' | '-') product)*                 (Python's precedence and associativity)
    product  := factor (('*' | '/') factor)*
    factor   := '-' factor | atom ['**' exponent]
    atom     := INTEGER | 'pi' | ('sqrt' | 'cos' | 'sin') '(' sum ')' | '(' sum ')'
    exponent := INTEGER | '-' INTEGER | '(' ['-'] INTEGER ['/' INTEGER] ')'

The values are real algebraic numbers, so that every exact test the provers make on them is decidable:
``cos`` and ``sin`` take rational multiples of π only, ``sqrt`` and fractional powers non-negative
arguments, and no division is by zero. Limits keep a hostile file from costing time (a number is at most
:data:`MAX_TEXT` characters, integers :data:`MAX_DIGITS` digits, exponents at most :data:`MAX_EXPONENT` in
size with denominators up to :data:`MAX_ROOT`, parentheses, calls and signs nest at most :data:`MAX_DEPTH`
deep, and the number of terms that a full expansion can produce, counted on the syntax, is at most
:data:`MAX_TERMS`): ``2**2**2**30`` is refused at its second ``**``.

**Documents** are JSON objects read through :class:`Fields`, which names every field by its path
(``layers[1].betas[3][0]``) in the :class:`DocumentError` it raises: a value of the wrong type, out of
range, of the wrong length, or a field that is missing or unknown.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import sympy as sp

__all__ = [
    "DocumentError",
    "exact_to_text",
    "exact_from_text",
    "read_document",
    "Fields",
    "MAX_TEXT",
    "MAX_DIGITS",
    "MAX_EXPONENT",
    "MAX_ROOT",
    "MAX_TERMS",
    "MAX_DEPTH",
    "MAX_DOCUMENT",
    "sign",
    "integer_in",
    "list_of",
    "exact_array",
]

MAX_TEXT = 2_000
MAX_DIGITS = 100
MAX_EXPONENT = 16
MAX_ROOT = 4
MAX_TERMS = 4_096
MAX_DEPTH = 32
MAX_DOCUMENT = 64 * 2**20


class DocumentError(ValueError):
    """A file (or text) that is not a valid document of the toolkit; ``field`` names the bad field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def exact_to_text(x: sp.Expr) -> str:
    """The text of an exact number, as :func:`exact_from_text` reads it back (sympy's ``str``)."""
    return str(x)


_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_]\w*)|(\*\*|[-+*/()])|(\S))")
_FUNCTIONS = {"sqrt": sp.sqrt, "cos": sp.cos, "sin": sp.sin}
_SYNTAX = "an exact number: integers, +, -, *, /, ** with small rational exponents, pi, sqrt, cos and sin"


class _Parser:
    """One number's text → a sympy number, with the term count of its expansion (see the module)."""

    def __init__(self, text: str, field: str):
        self.field, self.text = field, text
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, position)
        for match in _TOKEN.finditer(text):
            number, name, symbol, other = match.groups()
            if other is not None:
                self.fail(f"unexpected character {other!r}", match.start(4))
            kind = "int" if number else "name" if name else "op"
            self.tokens.append((kind, number or name or symbol, match.start(match.lastindex)))
        self.at = 0
        self.depth = 0

    def nest(self, position: int) -> None:
        """One level deeper (a parenthesis, a call or a sign); refused beyond :data:`MAX_DEPTH`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"nesting deeper than {MAX_DEPTH}", position)

    def fail(self, message: str, position: int | None = None):
        where = "" if position is None else f" at character {position}"
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        raise DocumentError(self.field, f"expected {_SYNTAX}; {message}{where} of {shown!r}")

    def peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def skip(self, symbol: str) -> bool:
        """Consume ``symbol`` if it comes next."""
        if self.peek() != symbol:
            return False
        self.at += 1
        return True

    def take(self, expected: str | None = None) -> tuple[str, str, int]:
        if self.at >= len(self.tokens):
            self.fail("the text ends early" if self.tokens else "the text is empty")
        token = self.tokens[self.at]
        if expected is not None and token[1] != expected:
            self.fail(f"expected {expected!r}, found {token[1]!r}", token[2])
        self.at += 1
        return token

    def parse(self) -> sp.Expr:
        value, terms = self.sum()
        if self.at < len(self.tokens):
            self.fail(f"unexpected {self.tokens[self.at][1]!r}", self.tokens[self.at][2])
        self.check_terms(terms)
        return value

    def check_terms(self, terms: int):
        if terms > MAX_TERMS:
            self.fail(f"its expansion has up to {terms} terms, more than {MAX_TERMS}")

    def sum(self) -> tuple[sp.Expr, int]:
        value, terms = self.product()
        while self.peek() in ("+", "-"):
            operator = self.take()[1]
            right, more = self.product()
            value, terms = (value + right if operator == "+" else value - right), terms + more
            self.check_terms(terms)
        return value, terms

    def product(self) -> tuple[sp.Expr, int]:
        value, terms = self.factor()
        while self.peek() in ("*", "/"):
            _, operator, position = self.take()
            right, more = self.factor()
            if operator == "/":
                if sign(right) in (0, None):
                    self.fail("a division by zero (or by a number not decidably non-zero)", position)
                value = value / right
            else:
                value = value * right
            terms *= more
            self.check_terms(terms)
        return value, terms

    def factor(self) -> tuple[sp.Expr, int]:
        if self.peek() == "-":
            self.nest(self.take()[2])
            value, terms = self.factor()
            self.depth -= 1
            return -value, terms
        base, terms = self.atom()
        if self.peek() != "**":
            return base, terms
        position = self.take()[2]
        exponent = self.exponent()
        if exponent.q > 1 and sign(base) not in (0, 1):
            self.fail("a fractional power of a number not decidably non-negative", position)
        if exponent < 0 and sign(base) in (0, None):
            self.fail("a negative power of a number not decidably non-zero", position)
        terms = terms ** abs(exponent.p)
        self.check_terms(terms)
        return base**exponent, terms

    def exponent(self) -> sp.Rational:
        if self.skip("("):
            negative = self.skip("-")
            p = self.integer()
            q = 1
            if self.skip("/"):
                q = self.integer()
            self.take(")")
        else:
            negative = self.skip("-")
            p, q = self.integer(), 1
        if p > MAX_EXPONENT or not 1 <= q <= MAX_ROOT:
            self.fail(f"an exponent {p}/{q} outside |p| ≤ {MAX_EXPONENT}, 1 ≤ q ≤ {MAX_ROOT}")
        return sp.Rational(-p if negative else p, q)

    def integer(self) -> int:
        kind, text, position = self.take()
        if kind != "int":
            self.fail(f"expected an integer, found {text!r}", position)
        if len(text) > MAX_DIGITS:
            self.fail(f"an integer of {len(text)} digits, more than {MAX_DIGITS}", position)
        return int(text)

    def atom(self) -> tuple[sp.Expr, int]:
        kind, text, position = self.take()
        if kind == "int":
            self.at -= 1
            return sp.Integer(self.integer()), 1
        if text == "(":
            self.nest(position)
            value = self.sum()
            self.take(")")
            self.depth -= 1
            return value
        if kind == "name" and text == "pi":
            return sp.pi, 1
        if kind == "name" and text in _FUNCTIONS:
            self.nest(position)
            self.take("(")
            argument, terms = self.sum()
            self.take(")")
            self.depth -= 1
            if text == "sqrt" and sign(argument) not in (0, 1):
                self.fail("the square root of a number not decidably non-negative", position)
            if text != "sqrt" and not (argument / sp.pi).is_Rational:
                self.fail(f"{text} of {argument}, not a rational multiple of pi", position)
            return _FUNCTIONS[text](argument), terms
        self.fail(f"unexpected {text!r}" + (" (no names but pi, sqrt, cos, sin)" if kind == "name" else ""), position)


def sign(x: sp.Expr) -> int | None:
    """The sign (−1, 0, 1) of a real number, decided by sympy's assumptions, else by evaluation to 50 digits
    with sympy's error control (``strict``: an answer or none); None where neither decides."""
    if x.is_zero:
        return 0
    if x.is_positive:
        return 1
    if x.is_negative:
        return -1
    try:
        value = x.evalf(50, strict=True)
    except (sp.core.evalf.PrecisionExhausted, ValueError, TypeError):
        return None
    if not value.is_Float:
        return None
    return 1 if value > 0 else -1 if value < 0 else None


def exact_from_text(text: Any, field: str) -> sp.Expr:
    """The exact real number ``text`` denotes (the grammar of the module); a :class:`DocumentError` naming
    ``field`` for anything else. Never evaluates code."""
    if not isinstance(text, str):
        raise DocumentError(field, f"expected an exact number as a string, got {_describe(text)}")
    if len(text) > MAX_TEXT:
        raise DocumentError(field, f"expected an exact number of at most {MAX_TEXT} characters, got {len(text)}")
    return _Parser(text, field).parse()


def _describe(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (int, float, str, bool, type(None))) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def read_document(text: Any, formats: Iterable[str], field: str = "text") -> tuple[str, Fields]:
    """Parse a JSON document and check its ``format`` field: (format, the document's :class:`Fields`)."""
    formats = tuple(formats)
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DocumentError(field, f"expected UTF-8 JSON text, got undecodable bytes ({err.reason})") from None
    if not isinstance(text, str):
        raise DocumentError(field, f"expected JSON text, got {type(text).__name__}")
    if len(text) > MAX_DOCUMENT:
        raise DocumentError(field, f"expected a document of at most {MAX_DOCUMENT} characters, got {len(text)}")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except DocumentError:
        raise
    except json.JSONDecodeError as err:
        raise DocumentError(field, f"expected JSON, got invalid JSON ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise DocumentError(field, "expected JSON, got arrays or objects nested too deeply") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        raise DocumentError(field, f"expected JSON the toolkit writes, got {_one_line(err)}") from None
    if not isinstance(data, dict):
        raise DocumentError(field, f"expected a JSON object, got {type(data).__name__}")
    fields = Fields(data, "")
    kind = fields.choice("format", formats)
    return kind, fields


def _one_line(err) -> str:
    """An exception's message on one line, at most 200 characters (for messages that quote it)."""
    return " ".join(str(err).split())[:200]


def _no_constant(name: str):
    raise DocumentError("text", f"expected JSON numbers, got {name} (not JSON)")


class Fields:
    """A JSON object being read: each accessor checks one field and names it by its path in errors;
    :meth:`done` refuses the fields that were never read (unknown fields)."""

    def __init__(self, data: dict, path: str):
        self.data, self.path, self.read = data, path, set()

    def name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str, default: Any = ...) -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is ...:
                raise DocumentError(self.name(key), "missing")
            return default
        return self.data[key]

    def text(self, key: str, max_length: int = 1_000) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or len(value) > max_length:
            raise DocumentError(self.name(key), f"expected a string of at most {max_length} characters, "
                                                f"got {_describe(value)}")  # fmt: skip
        return value

    def choice(self, key: str, choices: Iterable[str], default: Any = ...) -> str:
        choices = tuple(choices)
        value = self.raw(key, default)
        if not isinstance(value, str) or value not in choices:
            raise DocumentError(self.name(key), f"expected one of {', '.join(choices)}, got {_describe(value)}")
        return value

    def integer(self, key: str, low: int, high: int, default: Any = ...) -> int:
        return integer_in(self.raw(key, default), self.name(key), low, high)

    def items(self, key: str, length: int | None = None, max_length: int = 1 << 20) -> list:
        return list_of(self.raw(key), self.name(key), length, max_length)

    def objects(self, key: str, max_length: int) -> list[Fields]:
        out = []
        for index, entry in enumerate(self.items(key, max_length=max_length)):
            where = f"{self.name(key)}[{index}]"
            if not isinstance(entry, dict):
                raise DocumentError(where, f"expected a JSON object, got {_describe(entry)}")
            out.append(Fields(entry, where))
        return out

    def exact(self, key: str, shape: tuple[int, ...], check: Callable[[sp.Expr, str], None] | None = None) -> tuple:
        """Nested lists of exact numbers of the given shape → nested tuples of sympy numbers."""
        return exact_array(self.raw(key), self.name(key), shape, check)

    def done(self):
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            key = unknown[0] or '""'  # an empty key still gets a visible name
            raise DocumentError(self.name(key), "unknown field (not written by this version of deltaproof)")


def integer_in(value: Any, field: str, low: int, high: int | float) -> int:
    """``value`` as an int in [low, high] (JSON integers only: no booleans, floats or strings)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        upper = "" if high == math.inf else f" to {high}"
        raise DocumentError(field, f"expected an integer from {low}{upper}, got {_describe(value)}")
    return value


def list_of(value: Any, field: str, length: int | None = None, max_length: int = 1 << 20) -> list:
    if not isinstance(value, list):
        raise DocumentError(field, f"expected a list, got {_describe(value)}")
    if length is not None and len(value) != length:
        raise DocumentError(field, f"expected a list of {length} entries, got {len(value)}")
    if len(value) > max_length:
        raise DocumentError(field, f"expected a list of at most {max_length} entries, got {len(value)}")
    return value


def exact_array(value: Any, field: str, shape: tuple[int, ...], check=None) -> tuple:
    """Nested lists of exact-number strings of ``shape`` → nested tuples; ``check(number, field)`` on each."""
    if not shape:
        number = exact_from_text(value, field)
        if check is not None:
            check(number, field)
        return number
    items = list_of(value, field, shape[0])
    return tuple(exact_array(item, f"{field}[{i}]", shape[1:], check) for i, item in enumerate(items))
