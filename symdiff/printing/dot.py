"""Graphviz output: ``to_dot`` (DOT text, one vertex per node, so sharing is visible) and ``render``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..ir import Node, toposort
from .dump import describe
from .prepare import Roots, labelled_roots

#: Vertex style per node kind (inputs and constants are leaves; outputs are drawn bold).
STYLES = {
    "input": 'shape=ellipse, style=filled, fillcolor="#dbe9f6"',
    "constant": 'shape=ellipse, style=filled, fillcolor="#eeeeee"',
    "op": "shape=box",
}
RENDER_FORMATS = ("svg", "png", "pdf")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _label(node: Node) -> str:
    head, _, tail = describe(node).partition("  ")
    return f"{head}\n{tail}"


def to_dot(nodes: Roots, name: str = "symdiff") -> str:
    """The graph as Graphviz DOT text; inputs flow downwards to the outputs, which carry their labels."""
    roots, labels = labelled_roots(nodes, "to_dot")
    order = toposort(roots)
    ids = {id(n): f"n{k}" for k, n in enumerate(order)}
    lines = [f"digraph {_quote(name)} {{", '  node [fontname="Helvetica", fontsize=10];', "  edge [arrowsize=0.6];"]
    for node in order:
        kind = node.op if node.op in ("input", "constant") else "op"
        lines.append(f"  {ids[id(node)]} [label={_quote(_label(node))}, {STYLES[kind]}];")
    for node in order:
        for k, inp in enumerate(node.inputs):
            attrs = f" [label={_quote(str(k))}]" if len(node.inputs) > 1 else ""  # operand order matters (a - b)
            lines.append(f"  {ids[id(inp)]} -> {ids[id(node)]}{attrs};")
    for k, (root, label) in enumerate(zip(roots, labels)):
        out = f"out{k}"
        lines.append(f"  {out} [label={_quote(label or 'output')}, shape=plaintext, fontname=\"Helvetica-Bold\"];")
        lines.append(f"  {ids[id(root)]} -> {out} [penwidth=2];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_program() -> str:
    """Path of Graphviz's ``dot`` program; raises RuntimeError naming it when it is not installed."""
    path = shutil.which("dot")
    if path is None:
        raise RuntimeError("rendering needs Graphviz's `dot` program, which is not on PATH; install Graphviz "
                           "(e.g. `apt-get install graphviz` or `conda install graphviz`), or use to_dot() and "
                           "render the text elsewhere")
    return path


def run_dot(dot_text: str, fmt: str) -> bytes:
    """``dot_text`` rendered by Graphviz to ``fmt`` (svg, png or pdf) bytes."""
    if fmt not in RENDER_FORMATS:
        raise ValueError(f"render: format {fmt!r} is not one of {RENDER_FORMATS}")
    done = subprocess.run([dot_program(), f"-T{fmt}"], input=dot_text.encode(), capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz's dot failed (exit {done.returncode}): {done.stderr.decode(errors='replace')}")
    return done.stdout


def render(nodes: Roots, path: str | Path, fmt: str | None = None) -> Path:
    """Draw the graph to ``path`` (format from ``fmt`` or the suffix: .svg, .png, .pdf) with Graphviz's ``dot``."""
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".").lower()
    if fmt not in RENDER_FORMATS:
        raise ValueError(f"render: cannot tell the format of {str(path)!r}; use a suffix or fmt= from {RENDER_FORMATS}")
    path.write_bytes(run_dot(to_dot(nodes), fmt))
    return path
