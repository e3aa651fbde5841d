"""SymPy printers for formulas: one-line Unicode math (``x·cos(x²/2)``) and LaTeX.

Both render tensor terms through a :class:`~symdiff.printing.notation.Notation`, write elementwise
products of tensors with ⊙ and list positive terms of a sum first (``y - t``, not ``-t + y``).
"""

from __future__ import annotations

from collections.abc import Mapping, Set

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .notation import LATEX, SUPERSCRIPT, TEXT, Notation, Term, render_term


class _TermsMixin:
    """Atom symbols print as their terms; sums print positive terms first."""

    notation: Notation

    def __init__(self, atoms: Mapping[sp.Symbol, Term] | None = None, tensors: Set[sp.Symbol] = frozenset(),
                 **settings) -> None:
        super().__init__(settings)
        self.atoms = dict(atoms or {})
        self.tensors = tensors

    def _print_Symbol(self, expr: sp.Symbol, **kwargs) -> str:  # noqa: N802 - SymPy's dispatch name
        term = self.atoms.get(expr)
        return super()._print_Symbol(expr, **kwargs) if term is None else render_term(self, self.notation, term)

    def _as_ordered_terms(self, expr, order=None):
        terms = super()._as_ordered_terms(expr, order=order)
        return sorted(terms, key=lambda t: t.could_extract_minus_sign())  # stable: SymPy's order otherwise

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:  # noqa: N802
        # 1 where a condition holds, else 0: the Iverson bracket [c]
        if len(expr.args) == 2 and expr.args[0].expr == 1 and expr.args[1] == (0, True):
            return self.notation.iverson.format(self._print(expr.args[0].cond))
        return self._print_pieces(expr)

    def is_tensor(self, expr: sp.Basic) -> bool:
        """True when ``expr`` varies over a tensor's elements (so products with it are elementwise)."""
        return any(s in self.tensors for s in expr.free_symbols)


class UnicodePrinter(_TermsMixin, StrPrinter):
    """One-line Unicode math: ``·`` for products, ``⊙`` between tensors, superscript integer powers."""

    notation = TEXT

    def _factors(self, factors: list[sp.Basic]) -> str:
        text = ""
        for i, factor in enumerate(factors):
            if i:
                text += " ⊙ " if self.is_tensor(factors[i - 1]) and self.is_tensor(factor) else "·"
            text += self.parenthesize(factor, PRECEDENCE["Mul"], strict=False)
        return text

    def _print_Mul(self, expr: sp.Mul) -> str:  # noqa: N802
        coeff, rest = expr.as_coeff_Mul()
        sign = "-" if coeff < 0 else ""
        coeff = -coeff if coeff < 0 else coeff
        numer, denom = [], []
        for factor in rest.as_ordered_factors():
            base, exp = factor.as_base_exp()
            if exp.is_Number and exp < 0:
                denom.append(sp.Pow(base, -exp))
            else:
                numer.append(factor)
        if coeff.is_Rational:
            numer[:0] = [sp.Integer(coeff.p)] if coeff.p != 1 else []
            denom[:0] = [sp.Integer(coeff.q)] if coeff.q != 1 else []
        elif coeff != 1:
            numer.insert(0, coeff)
        text = sign + (self._factors(numer) if numer else "1")
        if not denom:
            return text
        if len(denom) == 1:
            return f"{text}/{self.parenthesize(denom[0], PRECEDENCE['Mul'], strict=True)}"
        return f"{text}/({self._factors(denom)})"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:  # noqa: N802
        base, exp = expr.as_base_exp()
        if exp.is_Number and exp < 0:
            return "1/" + self.parenthesize(sp.Pow(base, -exp), PRECEDENCE["Mul"], strict=True)
        if exp is sp.S.Half:
            return "√" + self.parenthesize(base, PRECEDENCE["Pow"], strict=True)
        if exp.is_Integer:
            return self.parenthesize(base, PRECEDENCE["Pow"], strict=True) + str(exp).translate(SUPERSCRIPT)
        base_text = self.parenthesize(base, PRECEDENCE["Pow"], strict=True)
        return f"{base_text}^{self.parenthesize(exp, PRECEDENCE['Pow'], strict=True)}"

    def _print_Float(self, expr: sp.Float) -> str:  # noqa: N802
        return repr(float(expr))

    def _print_Abs(self, expr: sp.Abs) -> str:  # noqa: N802
        return f"|{self._print(expr.args[0])}|"

    def _print_Max(self, expr: sp.Max) -> str:  # noqa: N802
        return f"max({self.stringify(expr.args, ', ')})"

    def _print_Min(self, expr: sp.Min) -> str:  # noqa: N802
        return f"min({self.stringify(expr.args, ', ')})"

    def _print_Equality(self, expr: sp.Eq) -> str:  # noqa: N802
        return f"{self._print(expr.lhs)} == {self._print(expr.rhs)}"

    def _print_Unequality(self, expr: sp.Ne) -> str:  # noqa: N802
        return f"{self._print(expr.lhs)} != {self._print(expr.rhs)}"

    def _print_Pi(self, expr) -> str:  # noqa: N802
        return "π"

    def _print_Exp1(self, expr) -> str:  # noqa: N802
        return "e"

    def _print_pieces(self, expr: sp.Piecewise) -> str:
        """Nested ``where(condition, value, otherwise)``, as the graph builds it."""
        *pieces, (last, last_cond) = expr.args
        text = self._print(last)
        if last_cond is not sp.true:  # no "otherwise" piece: undefined (NaN) elsewhere
            text = f"where({self._print(last_cond)}, {text}, nan)"
        for value, cond in reversed(pieces):
            text = f"where({self._print(cond)}, {self._print(value)}, {text})"
        return text


def latex_name(name: str) -> str:
    """A variable name in LaTeX: SymPy's subscript rule for short names (``W1`` -> ``W_{1}``, ``x_0`` -> ``x_{0}``);
    names with several underscores or long parts upright, as written (``digits_dense1_W`` -> ``\\mathrm{digits\\_
    dense1\\_W}``; SymPy would print ``digits_{dense1 W}``)."""
    parts = name.split("_")
    if len(parts) <= 2 and all(len(p) <= 3 for p in parts[1:]) and len(parts[0]) <= 3:
        return sp.latex(sp.Symbol(name))
    return r"\mathrm{" + name.replace("_", r"\_") + "}"


class FormulaLatexPrinter(_TermsMixin, LatexPrinter):
    """LaTeX with ``\\odot`` between tensor factors and ``\\top`` for transposes."""

    notation = LATEX

    def _print_Symbol(self, expr: sp.Symbol, **kwargs) -> str:  # noqa: N802
        if expr in self.atoms or expr in self._settings.get("symbol_names", {}):
            return super()._print_Symbol(expr, **kwargs)
        return latex_name(expr.name)

    def _print_pieces(self, expr: sp.Piecewise) -> str:
        """One ``cases`` block: nested wheres are flattened."""
        return LatexPrinter._print_Piecewise(self, sp.piecewise_fold(expr))  # the mixin handled [c] already

    def _print_Mul(self, expr: sp.Mul) -> str:  # noqa: N802
        tensors = [f for f in expr.args if self.is_tensor(f) and not (f.as_base_exp()[1].is_Number
                                                                          and f.as_base_exp()[1] < 0)]
        if len(tensors) < 2:
            return super()._print_Mul(expr)
        numer, denom = sp.fraction(expr)
        if denom != 1:
            return rf"\frac{{{self._print(numer)}}}{{{self._print(denom)}}}"
        body = r" \odot ".join(self.parenthesize(f, PRECEDENCE["Mul"], strict=False) for f in tensors)
        rest = sp.Mul(*(f for f in expr.args if f not in tensors))
        if rest == 1:
            return body
        if rest == -1:
            return "- " + body
        joint = r" \odot " if self.is_tensor(rest) else " "
        return self._print(rest) + joint + body


def unicode_text(expr: sp.Basic, atoms: Mapping[sp.Symbol, Term] | None = None,
                 tensors: Set[sp.Symbol] = frozenset()) -> str:
    """``expr`` as one-line Unicode math."""
    return UnicodePrinter(atoms, tensors).doprint(expr)
