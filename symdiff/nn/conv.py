"""Convolutional modules, channels last (N, H, W, C): Conv2D, Conv1D, max/average/global pooling and Flatten."""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Node, ShapeError
from ..ops import reshape
from ..ops.conv import avg_pool2d, conv1d, conv2d, global_avg_pool2d, max_pool2d
from . import init as initializers
from .init import Initializer
from .layers import ActivationLike, _activation
from .module import Module, check_positive


class Conv2D(Module):
    """``activation(conv2d(x, W) + b)`` for ``x`` (N, H, W, in_channels): ``W`` (KH, KW, in, out) He-uniform
    (fans count the kernel window), ``b`` (out,) zeros."""

    prefix = "conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int], *,
                 stride: int | Sequence[int] = 1, padding="valid", dilation: int | Sequence[int] = 1,
                 activation: ActivationLike = None, bias: bool = True, init: str | Initializer = "he_uniform",
                 dtype: str = "float64", name: str | None = None) -> None:
        super().__init__(name)
        check_positive(self, in_channels=in_channels, out_channels=out_channels)
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.in_channels, self.stride, self.padding, self.dilation = in_channels, stride, padding, dilation
        self.activation = _activation(activation)
        self.W = self.add_parameter("W", (kh, kw, in_channels, out_channels), init, regularized=True, dtype=dtype)
        self.b = self.add_parameter("b", (out_channels,), initializers.ZEROS, regularized=False,
                                    dtype=dtype) if bias else None

    def forward(self, x: Node, *, training: bool) -> Node:
        if x.ndim != 4 or x.shape[-1] != self.in_channels:
            raise ShapeError(f"{self.name}: expected inputs (N, H, W, {self.in_channels}), got shape {x.shape}")
        y = conv2d(x, self.W, self.stride, self.padding, self.dilation)
        return self.activation(y if self.b is None else y + self.b)


class Conv1D(Module):
    """``activation(conv1d(x, W) + b)`` for ``x`` (N, L, in_channels): ``W`` (K, in, out), ``b`` (out,)."""

    prefix = "conv1d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1, padding="valid",
                 dilation: int = 1, activation: ActivationLike = None, bias: bool = True,
                 init: str | Initializer = "he_uniform", dtype: str = "float64", name: str | None = None) -> None:
        super().__init__(name)
        check_positive(self, in_channels=in_channels, out_channels=out_channels, kernel_size=kernel_size)
        self.in_channels, self.stride, self.padding, self.dilation = in_channels, stride, padding, dilation
        self.activation = _activation(activation)
        self.W = self.add_parameter("W", (kernel_size, in_channels, out_channels), init, regularized=True,
                                    dtype=dtype)
        self.b = self.add_parameter("b", (out_channels,), initializers.ZEROS, regularized=False,
                                    dtype=dtype) if bias else None

    def forward(self, x: Node, *, training: bool) -> Node:
        if x.ndim != 3 or x.shape[-1] != self.in_channels:
            raise ShapeError(f"{self.name}: expected inputs (N, L, {self.in_channels}), got shape {x.shape}")
        y = conv1d(x, self.W, self.stride, self.padding, self.dilation)
        return self.activation(y if self.b is None else y + self.b)


class MaxPool2D(Module):
    """Maximum over ``window`` windows (stride = window by default) of (N, H, W, C) inputs."""

    prefix = "maxpool2d"

    def __init__(self, window: int | Sequence[int] = 2, stride=None, name: str | None = None) -> None:
        super().__init__(name)
        self.window, self.stride = window, stride

    def forward(self, x: Node, *, training: bool) -> Node:
        return max_pool2d(x, self.window, self.stride)


class AvgPool2D(MaxPool2D):
    """Mean over ``window`` windows (stride = window by default) of (N, H, W, C) inputs."""

    prefix = "avgpool2d"

    def forward(self, x: Node, *, training: bool) -> Node:
        return avg_pool2d(x, self.window, self.stride)


class GlobalAvgPool2D(Module):
    """Mean over H and W: (N, H, W, C) -> (N, C)."""

    prefix = "globalavgpool2d"

    def forward(self, x: Node, *, training: bool) -> Node:
        return global_avg_pool2d(x)


class Flatten(Module):
    """Every axis after the first joined: (N, ...) -> (N, features)."""

    prefix = "flatten"

    def forward(self, x: Node, *, training: bool) -> Node:
        return reshape(x, (x.shape[0], -1))
