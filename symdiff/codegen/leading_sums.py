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


def join_leading_sums(sections: list[Section], update_values: set[int]) -> list[Section]:
    """Each sum section (:func:`is_leading_sum`) right after an elementwise loop over its input's shape that
    computes its input joins that loop (its node appended to the loop's nodes); update values keep their own
    section (they may be written into their parameter in place)."""
    out: list[Section] = []
    for section in sections:
        last = out[-1] if out else None
        if section.kind == "reduction" and last is not None and last.kind == "elementwise":
            (node,) = section.nodes
            source = node.inputs[0]
            if is_leading_sum(node) and id(node) not in update_values and source.shape == last.shape and \
                    any(n is source for n in last.nodes):
                last.nodes.append(node)
                continue
        out.append(section)
    return out
