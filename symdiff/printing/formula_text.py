"""``formula`` and ``latex``: readable maths for any graph, simplified first.

A graph over scalar inputs becomes one SymPy expression per output, simplified by SymPy when small;
any other graph becomes a let-listing in matrix notation (see :mod:`symdiff.printing.listing`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sympy as sp

from ..ir import Node, inputs_of, toposort
from .errors import SympyConversionError
from .graph_to_sympy import is_uniform_shape, to_sympy
from .listing import Listing, build_listing
from .notation import LATEX, TEXT, Atom
from .prepare import Roots, labelled_roots, simplified
from .printers import FormulaLatexPrinter, UnicodePrinter, latex_name

#: Scalar graphs whose expression tree has more nodes than this print as a listing (sharing stays visible).
MAX_TREE = 400
#: Expressions with at most this many operations are simplified (bigger ones print as built).
MAX_SIMPLIFY_OPS = 200


def build(nodes: Roots, names: Mapping[Node, str] | None, what: str) -> Listing:
    """The lines to print for ``nodes``: one simplified expression per output for scalar graphs, else a listing."""
    roots, labels = labelled_roots(nodes, what)
    roots = simplified(roots)
    if not names and all(is_uniform_shape(n) for n in inputs_of(roots)) and _tree_size(roots) <= MAX_TREE:
        try:
            exprs = to_sympy(roots, real=True)
        except SympyConversionError:  # e.g. a non-uniform constant: the listing can still print it
            pass
        else:
            lines = [(None if label is None else Atom(label), _simplify(e)) for label, e in zip(labels, exprs)]
            return Listing(lines=lines)
    return build_listing(roots, labels, names or {})


def _tree_size(roots: list[Node]) -> int:
    size: dict[int, int] = {}
    for node in toposort(roots):
        size[id(node)] = min(MAX_TREE + 1, 1 + sum(size[id(i)] for i in node.inputs))
    return max(size[id(r)] for r in roots)


def _simplify(expr: sp.Basic) -> sp.Basic:
    """The form with the fewest operations among ``expr``, its common factors pulled out, and one fraction.

    Ties keep the earlier form, so ``1 - tanh(x)²`` stays as the derivative wrote it. (SymPy's general
    ``simplify`` is too slow here: about a second per small Hessian entry.)
    """
    if sp.count_ops(expr) > MAX_SIMPLIFY_OPS:
        return expr
    candidates = [expr, sp.factor_terms(expr), sp.together(expr)]
    return min(candidates, key=sp.count_ops)  # min keeps the first of equals


def text_of(listing: Listing) -> str:
    """The listing as Unicode lines ``name = expression``."""
    printer = UnicodePrinter(listing.atoms, listing.tensors)
    lines = [printer.doprint(e) if s is None else TEXT.assign.format(s.name, printer.doprint(e))
             for s, e in listing.lines]
    return TEXT.lines(lines)


def latex_of(listing: Listing) -> str:
    """The listing as LaTeX (an ``aligned`` block when there are several lines)."""
    names = {s: latex_label(s.name) for s, _ in listing.lines if s is not None}
    printer = FormulaLatexPrinter(listing.atoms, listing.tensors, symbol_names=names)
    lines = [printer.doprint(e) if s is None else LATEX.assign.format(names[s], printer.doprint(e))
             for s, e in listing.lines]
    return LATEX.lines(lines)


_PARTIAL = re.compile(r"∂(\w+)/∂(\w+)")


def latex_label(label: str) -> str:
    """A line name in LaTeX: identifiers as SymPy writes symbols (``W1`` -> ``W_{1}``), ``∂E/∂W`` as a fraction."""
    if label.isidentifier():
        return latex_name(label)
    match = _PARTIAL.fullmatch(label)
    if match:
        top, bottom = (latex_name(g) for g in match.groups())
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"
    return rf"\text{{{label}}}"
