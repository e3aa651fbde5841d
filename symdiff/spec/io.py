"""Reading specs from TOML, JSON or a dict, and writing them back (TOML or JSON by the file suffix)."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..train import Trainer
from .model import Spec
from .schema import SpecError

FORMATS = (".toml", ".json")
#: Larger files are refused unread: a spec is a few kilobytes.
MAX_SPEC_BYTES = 1 << 20
#: Deeper nesting of arrays and tables is refused before parsing (Python's parsers recurse; a spec needs 3).
MAX_NESTING = 32
# What the nesting count skips: strings (and TOML's comments), so brackets inside them do not count.
_JSON_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|[\[\]{}]')
_TOML_TOKENS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]')
_KEY = re.compile(r'(?:"([^"\n]*)"|([A-Za-z0-9_-]+))\s*[:=]')


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key given twice (which JSON would silently resolve to the last)."""
    table = {}
    for key, value in pairs:
        if key in table:
            raise _DuplicateKeyError(key)
        table[key] = value
    return table


def _where(text: str, offset: int) -> tuple[str, str]:
    """``(key, "line L, column C")`` for a character offset; the key is the last one written before it on its
    line ("" if none)."""
    start = text.rfind("\n", 0, offset) + 1
    keys = _KEY.findall(text, start, offset)
    line = text.count("\n", 0, offset) + 1
    return ("".join(keys[-1]) if keys else ""), f"line {line}, column {offset - start + 1}"


def _decode(data: bytes, source: str) -> str:
    """UTF-8 text (a byte order mark is dropped), or a SpecError at the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = data[:exc.start].decode("utf-8", errors="replace")
        key, where = _where(text + data[exc.start:].decode("utf-8", errors="replace"), len(text))
        raise SpecError(source, key, f"not UTF-8 text: byte 0x{data[exc.start]:02x} at {where}; save the file as "
                        "UTF-8") from None


def _check_nesting(text: str, source: str, tokens: re.Pattern) -> None:
    depth = 0
    for token in tokens.finditer(text):
        bracket = token[0]
        if bracket in "[{":
            depth += 1
            if depth > MAX_NESTING:
                key, where = _where(text, token.start())
                raise SpecError(source, key, f"nested more than {MAX_NESTING} levels deep at {where}")
        elif bracket in "]}":
            depth -= 1


def _long_integer(text: str, source: str) -> SpecError | None:
    """The error for an integer too long for Python to read (it refuses more than its int_max_str_digits)."""
    limit = sys.get_int_max_str_digits()
    long = re.search(rf"[0-9][0-9_]{{{limit},}}", text) if limit else None
    if long is None:
        return None
    key, where = _where(text, long.start())
    digits = len(long[0].replace("_", ""))
    return SpecError(source, key, f"an integer with {digits} digits at {where}; at most {limit} digits are read")


def read_spec(path: str | Path) -> dict[str, Any]:
    """The raw table in a ``.toml`` or ``.json`` file (UTF-8, a byte order mark allowed). A file that cannot be
    a spec raises :class:`SpecError` with the place: not UTF-8, over ``MAX_SPEC_BYTES``, nested deeper than
    ``MAX_NESTING``, a syntax error, a JSON key given twice (TOML refuses those itself), an integer too long
    to read."""
    path = Path(path)
    source = str(path)
    if path.suffix not in FORMATS:
        raise SpecError(source, "", f"unknown spec format {path.suffix!r}; expected a .toml or .json file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(source, "", f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(source, "", f"the file is larger than {MAX_SPEC_BYTES} bytes; a spec is a few kilobytes")
    text = _decode(data, source)
    toml = path.suffix == ".toml"
    _check_nesting(text, source, _TOML_TOKENS if toml else _JSON_TOKENS)
    try:
        table = tomllib.loads(text) if toml else json.loads(text, object_pairs_hook=_unique_keys)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, "", f"invalid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(source, "", f"invalid JSON: {exc}") from None
    except _DuplicateKeyError as exc:
        raise SpecError(source, exc.key, "invalid JSON: this key is given twice in one object") from None
    except ValueError as exc:
        raise (_long_integer(text, source) or SpecError(source, "", f"invalid {path.suffix[1:].upper()}: {exc}")) \
            from None
    if not isinstance(table, dict):
        raise SpecError(source, "", f"expected a table at the top level, got {type(table).__name__}")
    return table


def load_spec(source: str | Path | Mapping[str, Any]) -> Spec:
    """A :class:`Spec` from a ``.toml``/``.json`` file or a dict; bad specs raise :class:`SpecError`."""
    if isinstance(source, Mapping):
        return Spec(source, "<dict>")
    return Spec(read_spec(source), str(source))


def dump_spec(spec: Spec | Mapping[str, Any], path: str | Path) -> Path:
    """Write ``spec`` (a Spec's settings, or a dict) to ``path`` as TOML or JSON, by its suffix."""
    data = spec.to_dict() if isinstance(spec, Spec) else dict(spec)
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(f"dump_spec: {path} must end in .toml or .json")
    text = to_toml(data) if path.suffix == ".toml" else json.dumps(data, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _key(key: str) -> str:
    bare = key and all(c.isalnum() or c in "_-" for c in key) and key.isascii()
    return key if bare else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are valid in TOML basic strings
    if isinstance(value, list) and not any(isinstance(v, Mapping) for v in value):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"to_toml: cannot write {value!r} ({type(value).__name__})")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def to_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """TOML text for a table of scalars, lists, sub-tables and lists of tables."""
    plain = [f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)
             and not _is_table_list(v)]
    blocks = ["\n".join(plain)] if plain else []
    for key, value in data.items():
        name = f"{prefix}.{_key(key)}" if prefix else _key(key)
        if isinstance(value, Mapping):
            blocks.append(f"[{name}]\n" + to_toml(value, name))
        elif _is_table_list(value):
            blocks.extend(f"[[{name}]]\n" + to_toml(item, name) for item in value)
    return "\n\n".join(b.rstrip("\n") for b in blocks) + "\n"


def load_model(path: str | Path) -> Trainer:
    """A trained model from a bundle written by ``trainer.save`` of a spec-built trainer: the spec is rebuilt and
    compiled (a kernel-cache load), then its parameters, optimizer state, standardization and history restored.
    The result predicts (``predict``, ``predict_proba``), evaluates and can continue training (``fit``)."""
    path = Path(path)
    if not (path / "spec.json").exists():
        raise FileNotFoundError(f"load_model: {path} has no spec.json (it was saved from a model built in Python: "
                                "rebuild the trainer with the same code and call trainer.load_state(path))")
    trainer = load_spec(path / "spec.json").compile()
    trainer.load_state(path)
    return trainer
