"""Reading and exchanging derivatives: formulas (Unicode and LaTeX), text dumps, Graphviz, SymPy in and out.

Importing this package does not import SymPy: the functions that need it load it on first call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..ir import Node
from .dot import render, to_dot
from .dump import dprint
from .errors import SympyConversionError, UnsupportedSympyError
from .prepare import Roots
from .views import FormulaView, GraphView, display, display_graph


def formula(nodes: Roots, names: Mapping[Node, str] | None = None) -> str:
    """Readable maths for a graph, after the rewrite engine's simplification (when present).

    A graph whose inputs are all scalars prints as one SymPy-simplified expression per output
    (``x·cos(x²/2)``). Any other graph prints as a let-listing in matrix notation: ``@`` matrix
    product, ``ᵀ`` transpose, ``⊙`` elementwise product of tensors, ``Σ₁(a)`` sum over axis 1 (``Σ(a)``
    over all axes), elementwise functions by name; values used more than once (or long) get their own
    line ``t1 = ...``. ``nodes`` is a node, a list (lines ``out0, out1, ...``) or a dict
    ``label -> node`` (e.g. ``{"∂E/∂W1": gW1}``); ``names`` pins names of inner nodes (``{z: "z"}``).
    The same graph always gives the same text.
    """
    from .formula_text import build, text_of

    return text_of(build(nodes, names, "formula"))


def latex(nodes: Roots, names: Mapping[Node, str] | None = None) -> str:
    """The :func:`formula` of ``nodes`` as LaTeX (an ``aligned`` block when it has several lines)."""
    from .formula_text import build, latex_of

    return latex_of(build(nodes, names, "latex"))


def to_sympy(nodes: Node | Sequence[Node], *, real: bool = False) -> Any:
    """SymPy expression(s) of a scalar/elementwise graph, using each op's ``sympy`` rule.

    Inputs become symbols named like the tensors (plain ``sympy.Symbol(name)``, or real symbols with
    ``real=True``). Elementwise ops convert over tensors of any shape; sums, reshapes, matmuls, ... only
    over values whose entries are all equal (e.g. built from 0-d inputs). Anything else raises
    :class:`SympyConversionError` naming the node. A list of nodes gives a list of expressions.
    """
    from .graph_to_sympy import to_sympy as convert

    return convert(nodes, real=real)


def from_sympy(expr: Any, bindings: Mapping[Any, Any] | Sequence[Any] | None = None) -> Any:
    """A graph computing the SymPy expression ``expr`` elementwise over tensors, with NumPy broadcasting.

    ``bindings`` maps symbols (or their names) to tensors or shapes; a shape makes an input tensor named
    like the symbol, and unbound symbols become 0-d inputs. For a ``sympy.Lambda``, pass a list of
    tensors/shapes, one per argument. A list of expressions gives a list of nodes. Supported: + - * /,
    Pow (any exponent), exp, log, log1p, expm1, sin, cos, tan, sinh, cosh, tanh, Abs, sign, Max, Min,
    Heaviside, Piecewise (nested ``where``), comparisons, And/Or/Not, numbers and constants (pi, E).
    Anything else raises :class:`UnsupportedSympyError` naming the function.
    """
    from .sympy_to_graph import from_sympy as convert

    return convert(expr, bindings)


def _node_repr_latex(node: Node) -> str:
    """Notebooks show a node as its formula with its shape and dtype."""
    return f"${latex(node)} \\quad \\text{{{node.shape} {node.dtype}}}$"


Node._repr_latex_ = _node_repr_latex  # type: ignore[attr-defined]

__all__ = [
    "FormulaView", "GraphView", "SympyConversionError", "UnsupportedSympyError", "display", "display_graph",
    "dprint", "formula", "from_sympy", "latex", "render", "to_dot", "to_sympy",
]
