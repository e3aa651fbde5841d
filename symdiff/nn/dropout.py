"""Inverted dropout with masks drawn inside the graph from an integer seed.

In training mode each entry is kept with probability ``1 - rate`` and scaled by ``1 / (1 - rate)``,
so the expected activation is unchanged; at inference the layer is the identity. The mask comes from
``sd.random_uniform(seed + salt, shape)``: a pure function of the fed seed, the layer (its salt is
derived from its name, so two layers never share a mask) and the entry, hence reproducible and
computable inside compiled kernels.
"""

from __future__ import annotations

import numbers
import zlib

from ..ir import Node
from ..ops import cast, greater_equal, random_uniform, tensor
from ..ops.elementwise import to_float
from .module import Module


def dropout_seed() -> Node:
    """The default seed input shared by dropout layers: an int64 scalar named ``dropout_seed``."""
    return tensor("dropout_seed", (), "int64")


class Dropout(Module):
    """Inverted dropout with drop probability ``rate`` in [0, 1); ``seed`` is an int64 scalar input."""

    prefix = "dropout"

    def __init__(self, rate: float, *, seed: Node | None = None, name: str | None = None) -> None:
        super().__init__(name)
        # any real number (NumPy's scalars, a Fraction); not a bool, whose True would read as 1
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
            raise ValueError(f"{self!r}: rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.seed = dropout_seed() if seed is None else seed
        if not isinstance(self.seed, Node) or self.seed.shape != () or self.seed.dtype not in ("int32", "int64"):
            raise TypeError(f"{self!r}: seed must be an integer scalar tensor, got {self.seed!r}")
        self.salt = zlib.crc32(self.name.encode())

    def forward(self, x: Node, *, training: bool) -> Node:
        x = to_float(x)
        if not training or self.rate == 0.0:
            return x
        keep = cast(greater_equal(random_uniform(cast(self.seed, "int64") + self.salt, x.shape, x.dtype),
                                  self.rate), x.dtype)
        return x * keep * (1.0 / (1.0 - self.rate))
