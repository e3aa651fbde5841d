"""``dprint``: a text dump of a graph as a tree, each shared node expanded once and referenced as ``%k`` after.

Every line shows the op, its attributes, the shape and the dtype; a summary counts the nodes
(before and after the rewrite engine's simplification when that engine is present).
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import TextIO

import numpy as np

from ..ir import Node, count_nodes, toposort
from .prepare import Roots, labelled_roots, rewrite_available, simplified

#: Largest constant with different entries written out entry by entry.
MAX_LITERAL = 6


def constant_text(array: np.ndarray) -> str:
    """A constant's value: one number when all entries are equal, its entries when few, else its shape."""
    if array.size and np.all(array == array.flat[0]):
        return repr(array.flat[0].item())  # one value, however it is broadcast
    return repr(array.tolist()) if array.size <= MAX_LITERAL else f"array{array.shape}"


def describe(node: Node) -> str:
    """One node without its inputs: ``op attr=value  shape dtype``."""
    if node.op == "input":
        head = f"input {node.name}"
    elif node.op == "constant":
        head = f"const {constant_text(node.attr('value').array)}"
    else:
        head = " ".join([node.op] + [f"{k}={v!r}" for k, v in node.attrs])
    shape = "(" + ", ".join(map(str, node.shape)) + ("," if len(node.shape) == 1 else "") + ")"
    return f"{head}  {shape} {node.dtype}"


def dump(nodes: Roots) -> str:
    """The text :func:`dprint` prints."""
    roots, labels = labelled_roots(nodes, "dprint")
    order = toposort(roots)
    uses = Counter(id(i) for n in order for i in n.inputs) + Counter(id(r) for r in roots)
    numbers: dict[int, int] = {}
    lines: list[str] = []
    for root, label in zip(roots, labels):
        # Stack of (node, prefix for its own line, prefix for its children's lines).
        stack = [(root, "" if label is None else f"{label}: ", "")]
        while stack:
            node, head, indent = stack.pop()
            if id(node) in numbers:
                lines.append(f"{head}%{numbers[id(node)]} ↑")
                continue
            tag = ""
            if uses[id(node)] > 1:
                numbers[id(node)] = len(numbers)
                tag = f"%{numbers[id(node)]} = "
            lines.append(f"{head}{tag}{describe(node)}")
            children = node.inputs
            for k in reversed(range(len(children))):
                branch, trunk = ("└── ", "    ") if k == len(children) - 1 else ("├── ", "│   ")
                stack.append((children[k], indent + branch, indent + trunk))
    lines.append(summary(roots, order, uses))
    return "\n".join(lines)


def summary(roots: list[Node], order: list[Node], uses: Counter) -> str:
    """``N nodes (i inputs, c constants, o ops), s shared[; after simplify: M]``."""
    kinds = Counter("input" if n.op == "input" else "constant" if n.op == "constant" else "op" for n in order)
    shared = sum(1 for n in order if uses[id(n)] > 1)
    text = (f"{len(order)} nodes ({kinds['input']} inputs, {kinds['constant']} constants, {kinds['op']} ops), "
            f"{shared} shared")
    if rewrite_available():
        text += f"; after simplify: {count_nodes(simplified(roots))}"
    return text


def dprint(nodes: Roots, file: TextIO | None = None) -> None:
    """Print a graph as a tree with shapes and dtypes; shared nodes appear once as ``%k = ...``, then as ``%k ↑``.

    ``nodes`` is a node, a list, or a dict ``label -> node``. Ends with a node-count summary.
    """
    print(dump(nodes), file=file if file is not None else sys.stdout)
