"""Layer normalization: each example normalized over its features, then scaled and shifted per feature."""

from __future__ import annotations

from ..ir import Node
from ..ops import mean, sqrt
from ..ops.statistics import var
from . import init as initializers
from .module import Module, check_features, check_positive


class LayerNorm(Module):
    """``gamma * (x - mean) / sqrt(var + eps) + beta`` over the last axis (``features`` entries): ``gamma`` ones,
    ``beta`` zeros, neither regularized. The same in training and inference (no running statistics)."""

    prefix = "layernorm"

    def __init__(self, features: int, *, eps: float = 1e-5, dtype: str = "float64", name: str | None = None) -> None:
        super().__init__(name)
        check_positive(self, features=features)
        self.features, self.eps = features, float(eps)
        self.gamma = self.add_parameter("gamma", (features,), initializers.constant(1.0), regularized=False,
                                        dtype=dtype)
        self.beta = self.add_parameter("beta", (features,), initializers.ZEROS, regularized=False, dtype=dtype)

    def forward(self, x: Node, *, training: bool) -> Node:
        check_features(self, x, self.features)
        centred = x - mean(x, axis=-1, keepdims=True)
        return self.gamma * centred / sqrt(var(x, axis=-1, keepdims=True) + self.eps) + self.beta
