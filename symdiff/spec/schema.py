"""Spec validation as data: each key's expected kind and default, checked by one walker.

Errors are :class:`SpecError`: ``<file>: <key path>: <what was expected>``, e.g.
``mlp.toml: layers[2].units: expected a positive integer, got 'ten' (str)``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class SpecError(ValueError):
    """A bad spec: names the file, the key path and what was expected."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source, self.path, self.message = source, path, message
        super().__init__(f"{source}: {path}: {message}" if path else f"{source}: {message}")


@dataclass(frozen=True)
class Kind:
    """What a value must be: a description for errors and a test."""

    expected: str
    accepts: Callable[[Any], bool]


#: Integers in a spec fit in 64 bits (a count, a width or a seed never needs more).
INT_LIMIT = 2**63


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -INT_LIMIT <= v < INT_LIMIT


def _is_number(v: Any) -> bool:
    """A finite int or float: an inf or nan setting only ever trains nothing."""
    return _is_int(v) or (isinstance(v, float) and math.isfinite(v))


POSITIVE_INT = Kind("a positive integer", lambda v: _is_int(v) and v > 0)
COUNT = Kind("an integer >= 0", lambda v: _is_int(v) and v >= 0)
NUMBER = Kind("a finite number", _is_number)
POSITIVE = Kind("a finite number > 0", lambda v: _is_number(v) and v > 0)
NONNEGATIVE = Kind("a finite number >= 0", lambda v: _is_number(v) and v >= 0)
FRACTION = Kind("a number in [0, 1)", lambda v: _is_number(v) and 0 <= v < 1)
BOOLEAN = Kind("true or false", lambda v: isinstance(v, bool))
TEXT = Kind("a string", lambda v: isinstance(v, str))
IDENTIFIER = Kind("a name (letters, digits, _; not starting with a digit)", lambda v: isinstance(v, str)
                  and v.isidentifier())
TABLE = Kind("a table", lambda v: isinstance(v, Mapping))
TABLE_LIST = Kind("a non-empty list of tables", lambda v: isinstance(v, list) and len(v) > 0
                  and all(isinstance(item, Mapping) for item in v))


def one_of(names: list[str] | tuple[str, ...]) -> Kind:
    """A string among ``names``."""
    return Kind(f"one of {', '.join(repr(n) for n in names)}", lambda v: isinstance(v, str) and v in names)


def list_of(names: list[str] | tuple[str, ...]) -> Kind:
    """A list of strings among ``names``."""
    return Kind(f"a list of names among {', '.join(repr(n) for n in names)}",
                lambda v: isinstance(v, list) and all(isinstance(x, str) and x in names for x in v))


REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One key: its kind, and its default (``REQUIRED``, or ``None`` for an optional key left out)."""

    kind: Kind
    default: Any = None


def describe(value: Any) -> str:
    """``'ten' (str)`` for error messages (an integer too long to print: its size)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits (int)"
    return f"{value!r} ({type(value).__name__})"


def check(value: Any, kind: Kind, source: str, path: str) -> Any:
    """``value`` after checking it is of ``kind``."""
    if not kind.accepts(value):
        huge = isinstance(value, int) and not isinstance(value, bool) and not -INT_LIMIT <= value < INT_LIMIT
        limit = "; integers in a spec lie in [-2**63, 2**63)" if huge else ""
        raise SpecError(source, path, f"expected {kind.expected}, got {describe(value)}{limit}")
    return value


def join(path: str, key: str) -> str:
    """``path.key`` (or ``key`` at the top level)."""
    return f"{path}.{key}" if path else key


def validate(table: Any, fields: Mapping[str, Field], source: str, path: str) -> dict[str, Any]:
    """``table`` with every key checked and defaults filled in; unknown and missing keys raise.

    Optional keys without a default stay absent, so the result writes back to TOML as it was read.
    """
    if not isinstance(table, Mapping):
        raise SpecError(source, path, f"expected a table, got {describe(table)}")
    for key in table:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise SpecError(source, join(path, str(key)),
                            f"unknown key{hint}; expected one of: {', '.join(fields)}")
    result = {}
    for key, field in fields.items():
        if key in table:
            result[key] = check(table[key], field.kind, source, join(path, key))
        elif field.default is REQUIRED:
            raise SpecError(source, join(path, key), f"missing required key ({field.kind.expected})")
        elif field.default is not None:
            result[key] = field.default
    return result
