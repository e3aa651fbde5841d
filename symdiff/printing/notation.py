"""Matrix notation for the tensor (non-elementwise) parts of a formula, as data: one record per output format.

Elementwise parts of a formula are SymPy expressions; each matmul, transpose, reduction, ... becomes a
:class:`Term` held by an atom symbol, and the printers render terms through a :class:`Notation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


class Atom(sp.Symbol):
    """A symbol standing for a named value or a tensor term; it prints without parentheses."""


class CompoundAtom(Atom):
    """An atom whose text is an infix expression (``a @ b``): parenthesized inside products and powers."""

    precedence = PRECEDENCE["Add"]  # below Mul, so products and powers wrap it


@dataclass(frozen=True)
class Term:
    """A non-elementwise value: ``kind`` picks the layout, ``args`` are SymPy expressions, ``info`` the details."""

    kind: str
    args: tuple[sp.Basic, ...]
    info: Any = None

    @property
    def compound(self) -> bool:
        return self.kind == "matmul"


@dataclass(frozen=True)
class Notation:
    """How one output format writes terms; ``{}`` fields are the already printed operands."""

    paren: str
    transpose: str
    matmul: str
    reduce: str
    reduce_ops: dict[str, str]
    axes: Callable[[tuple[int, ...]], str]
    call: str
    escape: Callable[[str], str]
    iverson: str
    index: str
    assign: str
    lines: Callable[[list[str]], str]


TEXT = Notation(
    paren="({})", transpose="{}ᵀ", matmul="{} @ {}", reduce="{op}{axes}({arg})",
    reduce_ops={"sum": "Σ", "max": "max", "min": "min"},
    axes=lambda axes: ",".join(str(a).translate(SUBSCRIPT) for a in axes),
    call="{op}({args})", escape=str, iverson="[{}]", index="{}[{}]", assign="{} = {}", lines="\n".join,
)
LATEX = Notation(
    paren=r"\left({}\right)", transpose=r"{}^{{\top}}", matmul="{} {}", reduce=r"{op}{axes}\left({arg}\right)",
    reduce_ops={"sum": r"\sum", "max": r"\max", "min": r"\min"},
    axes=lambda axes: "_{" + ",".join(map(str, axes)) + "}" if axes else "",
    call=r"\operatorname{{{op}}}\left({args}\right)", escape=lambda text: text.replace("_", r"\_"),
    iverson=r"\left[{}\right]", index=r"{}\left[{}\right]", assign="{} &= {}",
    lines=lambda lines: lines[0] if len(lines) == 1 else
    "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}",
)


def is_atomic(expr: sp.Basic) -> bool:
    """True when ``expr`` prints as one unit (a name, a call, a non-negative number)."""
    if isinstance(expr, sp.Symbol):
        return not isinstance(expr, CompoundAtom)
    return bool(expr.is_Function or expr.is_Number and not expr.could_extract_minus_sign())


def _operand(printer, notation: Notation, expr: sp.Basic, left: bool = False) -> str:
    text = printer.doprint(expr)
    # matmul is left-associative: a @ b @ c needs no parentheses on the left
    if is_atomic(expr) or left and isinstance(expr, CompoundAtom):
        return text
    return notation.paren.format(text)


def _slice_text(triple: tuple[int, int | None, int]) -> str:
    start, stop, step = triple
    if stop is not None and step == 1 and stop == start + 1:
        return str(start)
    text = f"{start or ''}:{'' if stop is None else stop}"
    return text if step == 1 else f"{text}:{step}"


def _attrs_text(info: dict[str, Any]) -> str:
    """Attributes as math-like text: ``key: value``, shapes as ``(batch, 4)``, index ranges as ``[1:5, :]``."""
    return ", ".join(f"{k}: {_attr_value(v)}" for k, v in info.items())


def _attr_value(value: Any) -> str:
    if isinstance(value, tuple) and value and all(isinstance(t, tuple) and len(t) == 3 for t in value):
        return "[" + ", ".join(_slice_text(t) for t in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


#: Term kind -> ``(printer, notation, term) -> text``.
LAYOUTS: dict[str, Callable[..., str]] = {
    "transpose": lambda p, n, t: n.transpose.format(_operand(p, n, t.args[0])),
    "matmul": lambda p, n, t: n.matmul.format(_operand(p, n, t.args[0], left=True), _operand(p, n, t.args[1])),
    "reduce": lambda p, n, t: n.reduce.format(
        op=n.reduce_ops[t.info[0]], axes=n.axes(t.info[1]), arg=p.doprint(t.args[0])),
    "slice": lambda p, n, t: n.index.format(
        _operand(p, n, t.args[0]), ", ".join(_slice_text(s) for s in t.info)),
    "literal": lambda p, n, t: t.info,
    "call": lambda p, n, t: n.call.format(op=n.escape(t.info[0]), args=", ".join(
        [p.doprint(a) for a in t.args] + ([n.escape(_attrs_text(t.info[1]))] if t.info[1] else []))),
}


def render_term(printer, notation: Notation, term: Term) -> str:
    """The text of ``term`` in ``notation``, printing its operands with ``printer``."""
    return LAYOUTS[term.kind](printer, notation, term)
