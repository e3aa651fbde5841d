"""Running sums, ``sd.cumsum``: a loop (``sd.scan``) along the axis adding each slice into a carry.

Every entry is NumPy's: its prefix added in order, so an inf or a nan spoils only the entries from it on, and
integers stay exact (bool and int32 add up in int64). The derivative is the running sum the other way (the loop's
derivative, a loop again), and kernels compile it like any loop. A float32 carry adds in float64 and each entry is
rounded once, as compiled float32 sums do (codegen/wide_sums.py): NumPy's float32 running total drifts on long axes.
The loop lives above the op table, so this module gives NumPy's ``np.cumsum`` and ``x.cumsum`` their builder.
"""

from __future__ import annotations

import numpy as np

from ..ir import Node
from ..ops import cast, reshape, transpose, zeros
from ..ops.convert import as_node
from ..ops.protocols import register
from ..ops.reductions import accumulated
from ..ops.statistics import concrete_axis
from .scan import scan


def cumsum(x, axis: int | None = None) -> Node:
    """Running sums along a concrete ``axis`` (the flattened array when None), in NumPy's order and dtype."""
    x = accumulated(as_node(x))
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis, _ = concrete_axis(x, axis, "cumsum")
    total = "float64" if x.dtype == "float32" else x.dtype
    order = (axis, *(a for a in range(x.ndim) if a != axis))  # the summed axis first: the loop's steps
    steps = transpose(x, order)
    sums = scan(lambda carry, x_t: carry + cast(x_t, total), zeros(steps.shape[1:], total), steps)
    return transpose(cast(sums, x.dtype), tuple(order.index(a) for a in range(x.ndim)))


register(np.cumsum, cumsum)
