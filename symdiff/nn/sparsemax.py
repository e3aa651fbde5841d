"""Sparsemax (Martins & Astudillo, 2016): the Euclidean projection of z onto the probability simplex.

The op table has no sort, so the support is found sort-free: with
``k_i = #{j: z_j >= z_i}`` and ``s_i = sum_{j: z_j >= z_i} z_j`` (a pairwise comparison over a new
axis), entry i is in the support S iff ``1 + k_i z_i > s_i`` — the sort-based test evaluated at
i's last position among its ties (the test is the same for every member of a tie group).
Then ``tau = (sum_S z - 1) / |S|`` and ``sparsemax(z) = max(z - tau, 0)``. The support mask is a
comparison, so gradients flow only through z: the Jacobian is ``diag(s) - s s^T / |S|`` exactly.
"""

from __future__ import annotations

from .. import ops
from ..ir import Node
from ..ops import cast, expand_dims, greater, greater_equal, maximum, swapaxes
from ..ops.convert import as_node
from ..ops.elementwise import to_float


def sparsemax_threshold(z, axis: int = -1) -> tuple[Node, Node]:
    """``(tau, support)`` along ``axis``: the threshold (kept as a length-1 axis) and the support as 0/1."""
    z = to_float(as_node(z))
    last = swapaxes(z, axis, -1)
    mine, theirs = expand_dims(last, -1), expand_dims(last, -2)
    at_least = cast(greater_equal(theirs, mine), z.dtype)  # [..., i, j] = z_j >= z_i
    k = ops.sum(at_least, axis=-1)
    s = ops.sum(at_least * theirs, axis=-1)
    support = cast(greater(1.0 + k * last, s), z.dtype)
    tau = (ops.sum(support * last, axis=-1, keepdims=True) - 1.0) / ops.sum(support, axis=-1, keepdims=True)
    return swapaxes(tau, axis, -1), swapaxes(support, axis, -1)


def sparsemax(z, axis: int = -1) -> Node:
    """Sparse probabilities along ``axis``: like softmax, but exact zeros below the threshold tau."""
    z = to_float(as_node(z))
    tau, _ = sparsemax_threshold(z, axis)
    return maximum(z - tau, 0.0)
