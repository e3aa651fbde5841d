"""Convolutions and pooling, channels last (NHWC, the TensorFlow/JAX layout), built from slices, concatenation
and one matrix product (im2col), pooling from its windows' slices (``max_of`` of them, or their mean): no op
records of their own, so every derivative order, both compiled backends and the reference evaluator come from the
ops they are made of.

``conv2d(x, w)``: ``x`` of shape ``(N, H, W, C_in)`` (``N`` may be a named dim), ``w`` of shape
``(KH, KW, C_in, C_out)``; each kernel offset contributes one strided slice of the (padded) input, the slices are
joined on the channel axis into ``(N, OH, OW, KH*KW*C_in)`` and multiplied by ``w`` reshaped to
``(KH*KW*C_in, C_out)``: one BLAS product per call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from ..ir import Node, ShapeError
from .binary import add, max_of
from .convert import as_node
from .indexing import concatenate
from .reductions import mean
from .registry import constant
from .shape_ops import broadcast_to, expand_dims, reshape

Pair = tuple[int, int]


def _pair(value: int | Sequence[int], what: str) -> Pair:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair):
        raise ValueError(f"{what} must be a positive int or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


def _padding(padding, size: Pair, kernel: Pair, stride: Pair, dilation: Pair) -> tuple[Pair, Pair]:
    """``((top, bottom), (left, right))`` for "valid", "same" (output size ceil(size / stride)) or explicit."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        pads = []
        for n, k, s, d in zip(size, kernel, stride, dilation):
            total = (-(-n // s) - 1) * s + (k - 1) * d + 1 - n
            total = total if total > 0 else 0
            pads.append((total // 2, total - total // 2))
        return pads[0], pads[1]
    try:
        (top, bottom), (left, right) = padding
    except (TypeError, ValueError):
        raise ValueError(f"padding must be 'valid', 'same' or ((top, bottom), (left, right)), got {padding!r}") \
            from None
    if not all(isinstance(p, int) and p >= 0 for p in (top, bottom, left, right)):
        raise ValueError(f"padding amounts must be ints >= 0, got {padding!r}")
    return (top, bottom), (left, right)


def _check_nhwc(x: Node, what: str) -> None:
    if x.ndim != 4 or not all(isinstance(d, int) for d in x.shape[1:]):
        raise ShapeError(f"{what}: x must be channels-last (N, H, W, C) with concrete H, W, C (N may be named), "
                         f"got shape {x.shape}; an (N, C, H, W) array needs transposing to (N, H, W, C)")


def _channels_first(x: Node, w: Node, c_in: int, first: str, last: str) -> str:
    """The end of a shape error for an ``x`` whose axis 1 holds w's input channels (axis ``c_in`` of ``w``): the
    channels-first layout of PyTorch, which symdiff's convolutions do not take."""
    if x.ndim == w.ndim and x.ndim > 2 and w.ndim > c_in and x.shape[1] == w.shape[c_in] != x.shape[-1]:
        return f"; x looks like {first} (its axis 1 is w's C_in): transpose it to channels-last {last}"
    return ""


def _pad(x: Node, pads: tuple[Pair, Pair]) -> Node:
    """``x`` (N, H, W, C) with zero rows and columns around H and W."""
    for axis, (before, after) in zip((1, 2), pads):
        def zeros(n: int, x: Node = x, axis: int = axis) -> Node:
            return broadcast_to(constant(0, x.dtype), tuple(n if a == axis else d for a, d in enumerate(x.shape)))

        if before or after:
            x = concatenate(([zeros(before)] if before else []) + [x] + ([zeros(after)] if after else []), axis=axis)
    return x


def _windows(x: Node, kernel: Pair, stride: Pair, dilation: Pair, what: str) -> tuple[list[Node], Pair]:
    """One strided slice of ``x`` (N, H, W, C) per kernel offset, each (N, OH, OW, C); and (OH, OW)."""
    h, w = x.shape[1], x.shape[2]
    out = tuple((n - (k - 1) * d - 1) // s + 1 for n, k, s, d in zip((h, w), kernel, stride, dilation))
    if min(out) < 1:
        raise ShapeError(f"{what}: a window of {kernel} (dilation {dilation}) does not fit in {(h, w)} "
                         "after padding")
    slices = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            top, left = i * dilation[0], j * dilation[1]
            slices.append(x[:, top:top + (out[0] - 1) * stride[0] + 1:stride[0],
                             left:left + (out[1] - 1) * stride[1] + 1:stride[1], :])
    return slices, out  # type: ignore[return-value]


def conv2d(x, w, stride: int | Sequence[int] = 1, padding="valid", dilation: int | Sequence[int] = 1) -> Node:
    """2-D convolution (cross-correlation, as in every framework) of ``x`` (N, H, W, C_in) with ``w``
    (KH, KW, C_in, C_out): ``(N, OH, OW, C_out)``. ``padding``: "valid", "same" or ((top, bottom), (left, right))."""
    x, w = as_node(x), as_node(w)
    _check_nhwc(x, "conv2d")
    if w.ndim != 4 or w.shape[2] != x.shape[3] or not all(isinstance(d, int) for d in w.shape):
        raise ShapeError(f"conv2d: w must be (KH, KW, C_in, C_out) with C_in = {x.shape[3]} (x's channels), got "
                         f"shape {w.shape}" + _channels_first(x, w, 2, "(N, C, H, W)", "(N, H, W, C)"))
    kernel, stride, dilation = w.shape[:2], _pair(stride, "conv2d: stride"), _pair(dilation, "conv2d: dilation")
    x = _pad(x, _padding(padding, x.shape[1:3], kernel, stride, dilation))
    slices, _ = _windows(x, kernel, stride, dilation, "conv2d")
    patches = concatenate(slices, axis=3) if len(slices) > 1 else slices[0]
    return patches @ reshape(w, (kernel[0] * kernel[1] * w.shape[2], w.shape[3]))


def conv1d(x, w, stride: int = 1, padding="valid", dilation: int = 1) -> Node:
    """1-D convolution of ``x`` (N, L, C_in) with ``w`` (K, C_in, C_out): ``(N, OL, C_out)``; ``padding`` "valid",
    "same" or (before, after)."""
    x, w = as_node(x), as_node(w)
    if x.ndim != 3 or w.ndim != 3 or w.shape[1] != x.shape[2]:
        raise ShapeError(f"conv1d: x must be (N, L, C) and w (K, C_in, C_out) with C_in = C, got {x.shape} and "
                         f"{w.shape}" + _channels_first(x, w, 1, "(N, C, L)", "(N, L, C)"))
    pads = padding if isinstance(padding, str) else ((0, 0), tuple(padding))
    y = conv2d(expand_dims(x, 1), expand_dims(w, 0), (1, stride), pads, (1, dilation))
    return reshape(y, (y.shape[0],) + y.shape[2:])


def _pool(x, window, stride, padding, reduce: Callable[[list[Node]], Node], what: str) -> Node:
    x = as_node(x)
    _check_nhwc(x, what)
    window = _pair(window, f"{what}: window")
    stride = window if stride is None else _pair(stride, f"{what}: stride")
    if padding != "valid":
        raise ValueError(f"{what}: only padding='valid' is supported, got {padding!r}")
    slices, _ = _windows(x, window, stride, (1, 1), what)
    return reduce(slices) if len(slices) > 1 else slices[0]


def max_pool2d(x, window: int | Sequence[int] = 2, stride=None, padding: str = "valid") -> Node:
    """Maximum over each window of ``x`` (N, H, W, C) (stride defaults to the window); tied maxima share the
    gradient equally, the kink convention of every max in symdiff."""
    return _pool(x, window, stride, padding, lambda slices: max_of(*slices), "max_pool2d")


def avg_pool2d(x, window: int | Sequence[int] = 2, stride=None, padding: str = "valid") -> Node:
    """Mean over each window of ``x`` (N, H, W, C) (stride defaults to the window)."""
    return _pool(x, window, stride, padding, lambda slices: functools.reduce(add, slices) / len(slices), "avg_pool2d")


def _pool1d(x, window: int, stride, pool: Callable, what: str) -> Node:
    x = as_node(x)
    if x.ndim != 3:
        raise ShapeError(f"{what}: x must be (N, L, C), got shape {x.shape}")
    y = pool(expand_dims(x, 1), (1, window), None if stride is None else (1, stride))
    return reshape(y, (y.shape[0],) + y.shape[2:])


def max_pool1d(x, window: int = 2, stride=None) -> Node:
    """Maximum over each window of ``x`` (N, L, C) (stride defaults to the window); ties as in max_pool2d."""
    return _pool1d(x, window, stride, max_pool2d, "max_pool1d")


def avg_pool1d(x, window: int = 2, stride=None) -> Node:
    """Mean over each window of ``x`` (N, L, C) (stride defaults to the window)."""
    return _pool1d(x, window, stride, avg_pool2d, "avg_pool1d")


def global_avg_pool2d(x) -> Node:
    """Mean over H and W of ``x`` (N, H, W, C): ``(N, C)``."""
    x = as_node(x)
    _check_nhwc(x, "global_avg_pool2d")
    return mean(x, axis=(1, 2))
