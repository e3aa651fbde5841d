"""Jupyter display wrappers: ``display(nodes)`` shows the formula, ``display_graph(nodes)`` the picture."""

from __future__ import annotations

import html
import shutil
from collections.abc import Mapping

from ..ir import Node
from .dot import run_dot, to_dot
from .dump import dump
from .prepare import Roots


class FormulaView:
    """A graph's formula: LaTeX in Jupyter (``_repr_latex_``), Unicode text elsewhere."""

    def __init__(self, nodes: Roots, names: Mapping[Node, str] | None = None) -> None:
        self.nodes, self.names = nodes, names

    def __str__(self) -> str:
        from . import formula

        return formula(self.nodes, self.names)

    __repr__ = __str__

    def _repr_latex_(self) -> str:
        from . import latex

        return f"$\\displaystyle {latex(self.nodes, self.names)}$"


class GraphView:
    """A graph's picture: SVG in Jupyter when Graphviz's ``dot`` is installed, else the text dump."""

    def __init__(self, nodes: Roots) -> None:
        self.nodes = nodes

    def __str__(self) -> str:
        return dump(self.nodes)

    __repr__ = __str__

    def _repr_svg_(self) -> str | None:
        if shutil.which("dot") is None:
            return None  # Jupyter then falls back to the next representation
        return run_dot(to_dot(self.nodes), "svg").decode()

    def _repr_html_(self) -> str:
        svg = self._repr_svg_()
        return svg if svg is not None else f"<pre>{html.escape(str(self))}</pre>"


def display(nodes: Roots, names: Mapping[Node, str] | None = None) -> FormulaView:
    """A wrapper that Jupyter shows as the LaTeX formula of ``nodes`` (``print`` gives the Unicode form)."""
    return FormulaView(nodes, names)


def display_graph(nodes: Roots) -> GraphView:
    """A wrapper that Jupyter shows as the graph's picture (SVG via Graphviz, else the ``dprint`` text)."""
    return GraphView(nodes)
