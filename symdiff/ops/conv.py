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

from ..ir import Node, ShapeError, is_integer
from .binary import add, max_of
from .convert import as_node
from .indexing import concatenate
from .reductions import mean
from .registry import constant
from .shape_ops import broadcast_to, expand_dims, reshape

Pair = tuple[int, int]
# Per number of spatial axes: the channels-last layout, the channels-first one, the axes that must be concrete.
_LAYOUTS = {1: ("(N, L, C)", "(N, C, L)", "L, C"), 2: ("(N, H, W, C)", "(N, C, H, W)", "H, W, C")}
_FORMS = {1: "a tuple of one", 2: "a pair of them"}


def sizes(value: int | Sequence[int], n: int, what: str) -> tuple[int, ...]:
    """``value`` (one positive integer for all ``n`` axes, or ``n`` of them; ints or NumPy integers, not bools) as
    ``n`` Python ints; otherwise a ValueError naming ``what`` and the value given."""
    if is_integer(value):
        items: tuple = (value,) * n
    else:
        try:
            items = tuple(value)  # type: ignore[arg-type]
        except TypeError:
            items = ()
    if len(items) != n or not all(is_integer(v) and v >= 1 for v in items):
        raise ValueError(f"{what} must be a positive int or {_FORMS[n]}, got {value!r}")
    return tuple(int(v) for v in items)


# Every op works on (N, H, W, C); a 1-d op (``dims`` 1) gives its (N, L, C) input a unit H axis, so its sizes get a
# leading 1 (``_planar``) and its messages show only the last ``dims`` entries of a pair.
def _planar(value: int | Sequence[int], dims: int, what: str) -> Pair:
    return (1,) * (2 - dims) + sizes(value, dims, what)  # type: ignore[return-value]


def _without_h(y: Node) -> Node:
    """A 1-d op's (N, 1, OL, C) result as (N, OL, C)."""
    return reshape(y, (y.shape[0],) + y.shape[2:])


def _explicit(padding, dims: int) -> tuple[Pair, ...] | None:
    """Explicit padding amounts (``dims`` pairs of ints >= 0; a 1-d op's one pair unnested), or None."""
    try:
        pairs = tuple(tuple(p) for p in padding) if dims == 2 else (tuple(padding),)
    except TypeError:
        return None
    if len(pairs) != dims or not all(len(p) == 2 and all(is_integer(a) and a >= 0 for a in p) for p in pairs):
        return None
    return tuple((int(a), int(b)) for a, b in pairs)


def _padding(padding, size: Pair, kernel: Pair, stride: Pair, dilation: Pair, dims: int,
             what: str) -> tuple[Pair, Pair]:
    """``((top, bottom), (left, right))`` for "valid", "same" (output size ceil(size / stride)) or the amounts a
    ``dims``-d op takes: ((top, bottom), (left, right)), or (before, after)."""
    if isinstance(padding, str) and padding == "valid":
        return (0, 0), (0, 0)
    if isinstance(padding, str) and padding == "same":
        pads = []
        for n, k, s, d in zip(size, kernel, stride, dilation):
            total = (-(-n // s) - 1) * s + (k - 1) * d + 1 - n
            total = total if total > 0 else 0
            pads.append((total // 2, total - total // 2))
        return pads[0], pads[1]
    pairs = _explicit(padding, dims)
    if pairs is None:
        form = "(before, after)" if dims == 1 else "((top, bottom), (left, right))"
        raise ValueError(f"{what}: padding must be 'valid', 'same' or {form} of ints >= 0, got {padding!r}")
    return ((0, 0),) * (2 - dims) + pairs  # type: ignore[return-value]


def _check_layout(x: Node, dims: int, what: str) -> None:
    last, first, concrete = _LAYOUTS[dims]
    if x.ndim != dims + 2 or not all(isinstance(d, int) for d in x.shape[1:]):
        raise ShapeError(f"{what}: x must be channels-last {last} with concrete {concrete} (N may be named), got "
                         f"shape {x.shape}; an {first} array needs transposing to {last}")


def _channels_first(x: Node, w: Node, dims: int) -> str:
    """The end of a shape error for an ``x`` whose axis 1 holds w's input channels (its axis ``dims``): the
    channels-first layout of PyTorch, which symdiff's convolutions do not take."""
    last, first, _ = _LAYOUTS[dims]
    if x.ndim == w.ndim and x.ndim > 2 and w.ndim > dims and x.shape[1] == w.shape[dims] != x.shape[-1]:
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


def _windows(x: Node, kernel: Pair, stride: Pair, dilation: Pair, dims: int, what: str) -> list[Node]:
    """One strided slice of ``x`` (N, H, W, C) per kernel offset, each (N, OH, OW, C)."""
    h, w = x.shape[1], x.shape[2]
    out = tuple((n - (k - 1) * d - 1) // s + 1 for n, k, s, d in zip((h, w), kernel, stride, dilation))
    if min(out) < 1:
        raise ShapeError(f"{what}: a window of {kernel[2 - dims:]} (dilation {dilation[2 - dims:]}) does not fit in "
                         f"{(h, w)[2 - dims:]} after padding")
    slices = []
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            top, left = i * dilation[0], j * dilation[1]
            slices.append(x[:, top:top + (out[0] - 1) * stride[0] + 1:stride[0],
                             left:left + (out[1] - 1) * stride[1] + 1:stride[1], :])
    return slices


def _convolve(x: Node, w: Node, stride, padding, dilation, dims: int, what: str) -> Node:
    """``x`` (N, H, W, C_in) convolved with ``w`` (KH, KW, C_in, C_out), both checked but for w's kernel size;
    ``stride``, ``padding`` and ``dilation`` as the user gave them to the ``dims``-d op ``what``."""
    kernel = w.shape[:2]
    if min(kernel) < 1:
        raise ShapeError(f"{what}: the kernel size {kernel[2 - dims:]} (w's shape[:{dims}]) must be positive, got w "
                         f"of shape {w.shape[2 - dims:]}")
    stride, dilation = _planar(stride, dims, f"{what}: stride"), _planar(dilation, dims, f"{what}: dilation")
    x = _pad(x, _padding(padding, x.shape[1:3], kernel, stride, dilation, dims, what))
    slices = _windows(x, kernel, stride, dilation, dims, what)
    patches = concatenate(slices, axis=3) if len(slices) > 1 else slices[0]
    return patches @ reshape(w, (kernel[0] * kernel[1] * w.shape[2], w.shape[3]))


def conv2d(x, w, stride: int | Sequence[int] = 1, padding="valid", dilation: int | Sequence[int] = 1) -> Node:
    """2-D convolution (cross-correlation, as in every framework) of ``x`` (N, H, W, C_in) with ``w``
    (KH, KW, C_in, C_out): ``(N, OH, OW, C_out)``. ``padding``: "valid", "same" or ((top, bottom), (left, right)).
    Sizes are ints (NumPy integers too), one for both axes or a pair."""
    x, w = as_node(x), as_node(w)
    _check_layout(x, 2, "conv2d")
    if w.ndim != 4 or w.shape[2] != x.shape[3] or not all(isinstance(d, int) for d in w.shape):
        raise ShapeError(f"conv2d: w must be (KH, KW, C_in, C_out) with C_in = {x.shape[3]} (x's channels), got "
                         f"shape {w.shape}" + _channels_first(x, w, 2))
    return _convolve(x, w, stride, padding, dilation, 2, "conv2d")


def conv1d(x, w, stride: int | Sequence[int] = 1, padding="valid", dilation: int | Sequence[int] = 1) -> Node:
    """1-D convolution of ``x`` (N, L, C_in) with ``w`` (K, C_in, C_out): ``(N, OL, C_out)``; ``padding`` "valid",
    "same" or (before, after). Sizes are ints (NumPy integers too) or tuples of one."""
    x, w = as_node(x), as_node(w)
    if x.ndim != 3 or w.ndim != 3 or w.shape[1] != x.shape[2] or not all(isinstance(d, int) for d in w.shape):
        raise ShapeError(f"conv1d: x must be (N, L, C) and w (K, C_in, C_out) with C_in = C, got {x.shape} and "
                         f"{w.shape}" + _channels_first(x, w, 1))
    _check_layout(x, 1, "conv1d")
    return _without_h(_convolve(expand_dims(x, 1), expand_dims(w, 0), stride, padding, dilation, 1, "conv1d"))


def _maximum(slices: list[Node]) -> Node:
    return max_of(*slices)


def _average(slices: list[Node]) -> Node:
    return functools.reduce(add, slices) / len(slices)


def _pool(x, window, stride, padding, reduce: Callable[[list[Node]], Node], dims: int, what: str) -> Node:
    """``reduce`` of the window slices of ``x``, (N, H, W, C) or for ``dims`` 1 (N, L, C), the sizes as the user
    gave them to ``what``."""
    x = as_node(x)
    _check_layout(x, dims, what)
    window = _planar(window, dims, f"{what}: window")
    stride = window if stride is None else _planar(stride, dims, f"{what}: stride")
    if not (isinstance(padding, str) and padding == "valid"):
        raise ValueError(f"{what}: only padding='valid' is supported, got {padding!r}")
    slices = _windows(x if dims == 2 else expand_dims(x, 1), window, stride, (1, 1), dims, what)
    y = reduce(slices) if len(slices) > 1 else slices[0]
    return y if dims == 2 else _without_h(y)


def max_pool2d(x, window: int | Sequence[int] = 2, stride=None, padding: str = "valid") -> Node:
    """Maximum over each window of ``x`` (N, H, W, C) (stride defaults to the window); tied maxima share the
    gradient equally, the kink convention of every max in symdiff."""
    return _pool(x, window, stride, padding, _maximum, 2, "max_pool2d")


def avg_pool2d(x, window: int | Sequence[int] = 2, stride=None, padding: str = "valid") -> Node:
    """Mean over each window of ``x`` (N, H, W, C) (stride defaults to the window)."""
    return _pool(x, window, stride, padding, _average, 2, "avg_pool2d")


def max_pool1d(x, window: int | Sequence[int] = 2, stride=None) -> Node:
    """Maximum over each window of ``x`` (N, L, C) (stride defaults to the window); ties as in max_pool2d."""
    return _pool(x, window, stride, "valid", _maximum, 1, "max_pool1d")


def avg_pool1d(x, window: int | Sequence[int] = 2, stride=None) -> Node:
    """Mean over each window of ``x`` (N, L, C) (stride defaults to the window)."""
    return _pool(x, window, stride, "valid", _average, 1, "avg_pool1d")


def global_avg_pool2d(x) -> Node:
    """Mean over H and W of ``x`` (N, H, W, C): ``(N, C)``."""
    x = as_node(x)
    _check_layout(x, 2, "global_avg_pool2d")
    return mean(x, axis=(1, 2))
