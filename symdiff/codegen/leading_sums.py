"""Sums over leading axes computed by the loop that makes what they sum.

A layer's bias gradient is the sum over the batch of the gradient its loop has just computed, row by row: as a
section of its own it reads that whole array again (8 MB at a 1024 x 1024 layer in float64). Joined to the loop
nest that computes the array, each element is added into its entry of the sum while it is still in a register:

    for i0 in range(batch):
        for i1 in range(1024):
            g[i0, i1] = ...
            db[i1] += g[i0, i1]

The elements are added in the same order as the separate pass (rows in turn, each entry on its own), so the sum is
the same to the bit; the loop stays vectorized along its innermost axis (each lane its own entries).
"""

from __future__ import annotations

from symdiff.ir import Node

from .plan import Section


def is_leading_sum(node: Node) -> bool:
    """A float sum over the leading axes of its input only (at least one kept): each element goes straight into its
    entry, in any loop over the input's elements that runs the leading axes outermost."""
    if node.op != "sum" or node.dtype not in ("float32", "float64") or node.inputs[0].dtype != node.dtype:
        return False
    axes, ndim = sorted(node.attr("axes")), node.inputs[0].ndim
    return bool(axes) and axes == list(range(len(axes))) and len(axes) < ndim


def _terms(node: Node) -> list[Node]:
    """The values whose loop can add each element into sum ``node``: its input, and the float32 value that input
    widens when it is a float64 total of float32 terms (wide_sums.py) with no array of its own."""
    x = node.inputs[0]
    return [x, x.inputs[0]] if x.op == "cast" and x.dtype == "float64" and x.inputs[0].dtype == "float32" else [x]


def join_leading_sums(sections: list[Section], update_values: set[int]) -> list[Section]:
    """Each sum section (:func:`is_leading_sum`) joins the elementwise loop over its input's shape that computes
    its input (a pass of a row group too), however many sections ran in between: the sum reads nothing else, and
    nothing before its own place read it. Update values keep their own section (they may be written in place)."""
    out: list[Section] = []
    computing: dict[int, tuple[Section, Section]] = {}  # value id -> (loop computing it, the section holding it)
    for section in sections:
        node = section.nodes[0] if section.kind == "reduction" else None
        terms = _terms(node) if node is not None else []
        loop, holder = next((computing[id(t)] for t in terms if id(t) in computing), (None, None))
        if loop is not None and is_leading_sum(node) and id(node) not in update_values and \
                loop.shape == node.inputs[0].shape:
            loop.nodes.append(node)
            if holder is not loop:  # a pass of a row group: the group computes it too
                holder.nodes.append(node)
            continue
        out.append(section)
        for loop in section.members if section.kind == "rows" else [section]:
            if loop.kind == "elementwise":
                computing.update((id(n), (loop, section)) for n in loop.nodes)
    return out
