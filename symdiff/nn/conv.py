"""Convolutional modules, channels last (N, H, W, C): Conv2D, Conv1D, max/average/global pooling; Reshape and
Flatten to move between examples as vectors and as images or sequences."""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Node, ShapeError
from ..ops import reshape
from ..ops.conv import avg_pool1d, avg_pool2d, conv1d, conv2d, global_avg_pool2d, max_pool1d, max_pool2d
from . import init as initializers
from .init import Initializer
from .layers import ActivationLike, _activation
from .module import Module, check_positive


class _Conv(Module):
    """``activation(conv(x, W) + b)``, channels last: ``W`` (kernel..., in, out) He-uniform (fans count the kernel
    window), ``b`` (out,) zeros."""

    layout = ""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, ...], stride, padding, dilation,
                 activation: ActivationLike, bias: bool, init: str | Initializer, dtype: str,
                 name: str | None) -> None:
        super().__init__(name)
        check_positive(self, in_channels=in_channels, out_channels=out_channels)
        self.in_channels, self.stride, self.padding, self.dilation = in_channels, stride, padding, dilation
        self.activation = _activation(activation)
        self.W = self.add_parameter("W", kernel + (in_channels, out_channels), init, regularized=True, dtype=dtype)
        self.b = self.add_parameter("b", (out_channels,), initializers.ZEROS, regularized=False,
                                    dtype=dtype) if bias else None

    def forward(self, x: Node, *, training: bool) -> Node:
        if x.ndim != len(self.layout) or x.shape[-1] != self.in_channels:
            raise ShapeError(f"{self.name}: expected inputs ({', '.join(self.layout[:-1])}, {self.in_channels}), "
                             f"got shape {x.shape}")
        y = self.convolve(x, self.W, self.stride, self.padding, self.dilation)
        return self.activation(y if self.b is None else y + self.b)


class Conv2D(_Conv):
    """2-D convolution of (N, H, W, in_channels) inputs: ``W`` (KH, KW, in, out), ``b`` (out,)."""

    prefix, layout, convolve = "conv2d", "NHWC", staticmethod(conv2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int], *,
                 stride: int | Sequence[int] = 1, padding="valid", dilation: int | Sequence[int] = 1,
                 activation: ActivationLike = None, bias: bool = True, init: str | Initializer = "he_uniform",
                 dtype: str = "float64", name: str | None = None) -> None:
        kernel = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        super().__init__(in_channels, out_channels, kernel, stride, padding, dilation, activation, bias, init,
                         dtype, name)


class Conv1D(_Conv):
    """1-D convolution of (N, L, in_channels) inputs: ``W`` (K, in, out), ``b`` (out,)."""

    prefix, layout, convolve = "conv1d", "NLC", staticmethod(conv1d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1, padding="valid",
                 dilation: int = 1, activation: ActivationLike = None, bias: bool = True,
                 init: str | Initializer = "he_uniform", dtype: str = "float64", name: str | None = None) -> None:
        super().__init__(in_channels, out_channels, (kernel_size,), stride, padding, dilation, activation, bias,
                         init, dtype, name)


class MaxPool2D(Module):
    """Maximum over ``window`` windows (stride = window by default) of (N, H, W, C) inputs."""

    prefix, pool = "maxpool2d", staticmethod(max_pool2d)

    def __init__(self, window: int | Sequence[int] = 2, stride=None, name: str | None = None) -> None:
        super().__init__(name)
        self.window, self.stride = window, stride

    def forward(self, x: Node, *, training: bool) -> Node:
        return self.pool(x, self.window, self.stride)


class AvgPool2D(MaxPool2D):
    """Mean over ``window`` windows (stride = window by default) of (N, H, W, C) inputs."""

    prefix, pool = "avgpool2d", staticmethod(avg_pool2d)


class MaxPool1D(MaxPool2D):
    """Maximum over ``window`` steps (stride = window by default) of (N, L, C) inputs."""

    prefix, pool = "maxpool1d", staticmethod(max_pool1d)


class AvgPool1D(MaxPool2D):
    """Mean over ``window`` steps (stride = window by default) of (N, L, C) inputs."""

    prefix, pool = "avgpool1d", staticmethod(avg_pool1d)


class GlobalAvgPool2D(Module):
    """Mean over H and W: (N, H, W, C) -> (N, C)."""

    prefix = "globalavgpool2d"

    def forward(self, x: Node, *, training: bool) -> Node:
        return global_avg_pool2d(x)


class Reshape(Module):
    """Each example reshaped: (N, ...) -> (N, *shape) (one entry of ``shape`` may be -1)."""

    prefix = "reshape"

    def __init__(self, shape: Sequence[int], name: str | None = None) -> None:
        super().__init__(name)
        self.shape = tuple(shape)

    def forward(self, x: Node, *, training: bool) -> Node:
        return reshape(x, (x.shape[0],) + self.shape)


class Flatten(Module):
    """Every axis after the first joined: (N, ...) -> (N, features)."""

    prefix = "flatten"

    def forward(self, x: Node, *, training: bool) -> Node:
        return reshape(x, (x.shape[0], -1))
