"""Float32 sums accumulate in float64.

A kernel adds a sum's terms one at a time into a running total: a variable, or the entries of an array (a sum over
the batch, joined or not to the loop computing its terms; a row group's pass). A float32 total stops growing once
the terms fall below half its ulp: 2^25 + 10 ones summed to 2^24, a million squares of uniform numbers lost 3.4e-4
of their sum, where NumPy's pairwise sum (the reference evaluator's) stays within a few ulps. So kernels compute a
float32 sum as ``cast(sum(cast(x, float64)), float32)``: the terms added in float64, the total rounded once; the
schedule places the float64 total like any other value. A sum over the batch of matrix products
(plan.contracted_product) stays one float32 product by BLAS, which adds its terms in blocks.
"""

from __future__ import annotations

from symdiff.autodiff.scan import substitute
from symdiff.ir import Node
from symdiff.ops import cast, make

from .plan import contracted_product


def accumulates_wide(node: Node) -> bool:
    """A float32 sum that kernels add up in float64."""
    return node.op == "sum" and node.dtype == "float32" and contracted_product(node) is None


def widen_sums(roots: list[Node]) -> list[Node]:
    """``roots`` with every float32 sum (:func:`accumulates_wide`) added up in float64."""
    return substitute(roots, {}, remake=_widened)


def wide_sum(node: Node, x: Node) -> Node:
    """The float64 total of float32 sum ``node`` (:func:`accumulates_wide`) taken over ``x``, before rounding."""
    return make("sum", [cast(x, "float64")], **dict(node.attrs))


def _widened(node: Node, inputs: list[Node]) -> Node | None:
    return cast(wide_sum(node, inputs[0]), node.dtype) if accumulates_wide(node) else None
