"""Counter-based random numbers: ``random_uniform(seed, shape)``.

Entry ``i`` (flat, C order) is a pure function of ``(seed, i)``: splitmix64's finalizer applied to
``seed * GOLDEN + i + 1``, top 53 bits scaled to [0, 1). Compiled kernels compute the same bits,
so a seeded graph gives identical masks in the reference evaluator and in generated code. An optional second
input, an integer scalar ``first``, numbers the entries from ``first`` instead of 0: rows of a larger draw (the
shards of a call split over rows, symdiff/parallel/, draw the rows of the whole call's mask).
"""

from __future__ import annotations

import numpy as np

from ..ir import Node, normalize_shape
from .convert import as_node
from .elementwise import cast
from .registry import defop, make

GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB


def splitmix_uniform(seed: int, flat_index: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) doubles for ``flat_index`` under ``seed`` (uint64 wrap-around arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) * np.uint64(GOLDEN) + flat_index.astype(np.uint64) + np.uint64(1)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _uniform(seed: np.ndarray, *first: np.ndarray, shape, dtype: str) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    start = int(first[0]) if first else 0
    return splitmix_uniform(int(seed) & 0xFFFFFFFFFFFFFFFF, np.arange(start, start + n)).reshape(shape).astype(dtype)


def _uniform_rule(inputs, attrs):
    for what, node in zip(("seed", "first"), inputs):
        if node.shape != () or node.dtype not in ("int32", "int64"):
            raise TypeError(f"random_uniform: {what} must be an integer scalar, got {node.dtype} of shape {node.shape}")
    return attrs["shape"], attrs["dtype"]


defop("random_uniform", "index", _uniform_rule, _uniform,
      vjp=lambda g, out, *inputs, shape, dtype: (None,) * len(inputs))


def random_uniform(seed, shape, dtype: str = "float64") -> Node:
    """Uniform [0, 1) samples of ``shape`` (named dims allowed), reproducible from the integer ``seed``."""
    seed = as_node(seed)
    if seed.dtype == "int32":
        seed = cast(seed, "int64")
    return make("random_uniform", [seed], shape=normalize_shape(shape, "random_uniform"), dtype=dtype)
