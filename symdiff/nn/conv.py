"""Convolutional modules, channels last (N, H, W, C): Conv2D, Conv1D, max/average/global pooling; Reshape and
Flatten to move between examples as vectors and as images or sequences."""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Node, ShapeError
from ..ops import reshape
from ..ops.conv import avg_pool1d, avg_pool2d, conv1d, conv2d, global_avg_pool2d, max_pool1d, max_pool2d, sizes
from . import init as initializers
from .init import Initializer
from .layers import ActivationLike, _activation
from .module import Module, check_flags, check_positive


class _Conv(Module):
    """``activation(conv(x, W) + b)``, channels last: ``W`` (kernel..., in, out) He-uniform (fans count the kernel
    window), ``b`` (out,) zeros. Sizes are ints (NumPy integers too); ``kernel_size``, ``stride`` and ``dilation``
    one for every spatial axis or one per axis, checked here."""

    layout = ""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int], padding, dilation: int | Sequence[int], activation: ActivationLike,
                 bias: bool, init: str | Initializer, dtype: str, name: str | None) -> None:
        super().__init__(name)
        in_channels, out_channels = check_positive(self, in_channels=in_channels, out_channels=out_channels)
        axes = len(self.layout) - 2
        kernel = sizes(kernel_size, axes, f"{self!r}: kernel_size")
        self.stride = sizes(stride, axes, f"{self!r}: stride")
        self.dilation = sizes(dilation, axes, f"{self!r}: dilation")
        self.in_channels, self.padding = in_channels, padding
        self.activation = _activation(activation)
        self.W = self.add_parameter("W", kernel + (in_channels, out_channels), init, regularized=True, dtype=dtype)
        self.b = self.add_parameter("b", (out_channels,), initializers.ZEROS, regularized=False,
                                    dtype=dtype) if check_flags(self, bias=bias)[0] else None

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
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, activation, bias, init,
                         dtype, name)


class Conv1D(_Conv):
    """1-D convolution of (N, L, in_channels) inputs: ``W`` (K, in, out), ``b`` (out,); ``kernel_size``,
    ``stride`` and ``dilation`` are ints or tuples of one."""

    prefix, layout, convolve = "conv1d", "NLC", staticmethod(conv1d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int], *,
                 stride: int | Sequence[int] = 1, padding="valid", dilation: int | Sequence[int] = 1,
                 activation: ActivationLike = None, bias: bool = True, init: str | Initializer = "he_uniform",
                 dtype: str = "float64", name: str | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, activation, bias,
                         init, dtype, name)


class MaxPool2D(Module):
    """Maximum over ``window`` windows (stride = window by default) of (N, H, W, C) inputs; sizes as in
    ``sd.max_pool2d``, checked here."""

    prefix, pool, axes = "maxpool2d", staticmethod(max_pool2d), 2

    def __init__(self, window: int | Sequence[int] = 2, stride: int | Sequence[int] | None = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.window = sizes(window, self.axes, f"{self!r}: window")
        self.stride = None if stride is None else sizes(stride, self.axes, f"{self!r}: stride")

    def forward(self, x: Node, *, training: bool) -> Node:
        return self.pool(x, self.window, self.stride)


class AvgPool2D(MaxPool2D):
    """Mean over ``window`` windows (stride = window by default) of (N, H, W, C) inputs."""

    prefix, pool = "avgpool2d", staticmethod(avg_pool2d)


class MaxPool1D(MaxPool2D):
    """Maximum over ``window`` steps (stride = window by default) of (N, L, C) inputs."""

    prefix, pool, axes = "maxpool1d", staticmethod(max_pool1d), 1


class AvgPool1D(MaxPool2D):
    """Mean over ``window`` steps (stride = window by default) of (N, L, C) inputs."""

    prefix, pool, axes = "avgpool1d", staticmethod(avg_pool1d), 1


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
