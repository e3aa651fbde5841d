"""Normalization: layer normalization (each example over its features) and batch normalization (each feature over
the batch, with running statistics for inference), then a scale and shift per feature."""

from __future__ import annotations

from ..ir import Node, ShapeError
from ..ops import greater, maximum, mean, sqrt, where
from ..ops.reductions import count
from ..ops.statistics import var
from . import init as initializers
from .module import Module, check_features, check_positive, check_positive_number


class LayerNorm(Module):
    """``gamma * (x - mean) / sqrt(var + eps) + beta`` over the last axis (``features`` entries): ``gamma`` ones,
    ``beta`` zeros, neither regularized. The same in training and inference (no running statistics)."""

    prefix = "layernorm"

    def __init__(self, features: int, *, eps: float = 1e-5, dtype: str = "float64", name: str | None = None) -> None:
        super().__init__(name)
        (features,), (self.eps,) = check_positive(self, features=features), check_positive_number(self, eps=eps)
        self.features = features
        self.gamma = self.add_parameter("gamma", (features,), initializers.constant(1.0), regularized=False,
                                        dtype=dtype)
        self.beta = self.add_parameter("beta", (features,), initializers.ZEROS, regularized=False, dtype=dtype)

    def forward(self, x: Node, *, training: bool) -> Node:
        check_features(self, x, self.features)
        centred = x - mean(x, axis=-1, keepdims=True)
        return self.gamma * centred / sqrt(var(x, axis=-1, keepdims=True) + self.eps) + self.beta


class BatchNorm(Module):
    """Batch normalization (Ioffe & Szegedy 2015) over every axis but the last (features; channels of NHWC images):
    ``gamma * (x - mean) / sqrt(var + eps) + beta``. In training the mean and (biased) variance are the batch's,
    and each training step also moves the running statistics: ``running = (1 - momentum) * running + momentum *
    batch`` (the variance unbiased, as PyTorch and Keras keep it; an empty batch leaves them as they were); in
    inference they replace the batch's. The running statistics are non-trainable parameters
    (``<name>_running_mean``, ``<name>_running_var``): updated inside the compiled training step, saved with the
    model, fed to predict kernels."""

    prefix = "batchnorm"

    def __init__(self, features: int, *, momentum: float = 0.1, eps: float = 1e-5, dtype: str = "float64",
                 name: str | None = None) -> None:
        super().__init__(name)
        (features,), (self.eps,) = check_positive(self, features=features), check_positive_number(self, eps=eps)
        (self.momentum,) = check_positive_number(self, momentum=momentum)
        self.features = features
        if self.momentum > 1.0:
            raise ValueError(f"{self.name}: momentum must be in (0, 1], got {momentum!r}")
        self.gamma = self.add_parameter("gamma", (features,), initializers.constant(1.0), regularized=False,
                                        dtype=dtype)
        self.beta = self.add_parameter("beta", (features,), initializers.ZEROS, regularized=False, dtype=dtype)
        self.running_mean = self.add_parameter("running_mean", (features,), initializers.ZEROS, regularized=False,
                                               dtype=dtype, trainable=False)
        self.running_var = self.add_parameter("running_var", (features,), initializers.constant(1.0),
                                              regularized=False, dtype=dtype, trainable=False)

    def forward(self, x: Node, *, training: bool) -> Node:
        check_features(self, x, self.features)
        if x.ndim < 2:
            raise ShapeError(f"{self.name}: expected inputs (N, ..., {self.features}), got shape {x.shape}")
        axes = tuple(range(x.ndim - 1))
        if training:
            mean_, variance = mean(x, axis=axes), var(x, axis=axes)
            n = count(x, axes, x.dtype)
            unbiased = variance * n / maximum(n - 1.0, 1.0)  # a batch of one: its variance, 0
            seen = greater(n, 0.0)  # an empty batch (statistics nan) leaves the running statistics as they were
            for state, batch in ((self.running_mean, mean_), (self.running_var, unbiased)):
                self.update_state(state, where(seen, (1.0 - self.momentum) * state + self.momentum * batch, state))
        else:
            mean_, variance = self.running_mean, self.running_var
        return self.gamma * (x - mean_) / sqrt(variance + self.eps) + self.beta
