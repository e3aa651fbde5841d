"""Reading specs from TOML, JSON or a dict, and writing them back (TOML or JSON by the file suffix)."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .model import Spec
from .schema import SpecError

FORMATS = (".toml", ".json")


def read_spec(path: str | Path) -> dict[str, Any]:
    """The raw table in a ``.toml`` or ``.json`` file (syntax errors raise :class:`SpecError` with the line)."""
    path = Path(path)
    if path.suffix not in FORMATS:
        raise SpecError(str(path), "", f"unknown spec format {path.suffix!r}; expected a .toml or .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), "", f"cannot read the file: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), "", f"invalid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SpecError(str(path), "", f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(str(path), "", f"expected a table at the top level, got {type(data).__name__}")
    return data


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
