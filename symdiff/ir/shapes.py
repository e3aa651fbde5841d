"""Shapes with concrete (int) or named (str) dimensions, and NumPy broadcasting over them."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

Dim = int | str
Shape = tuple[Dim, ...]

FLOAT_DTYPES = ("float32", "float64")
DTYPES = ("float32", "float64", "int32", "int64", "bool")


class ShapeError(ValueError):
    """A shape or named-dimension mismatch, at build time or when binding values."""


def is_integer(value: object) -> bool:
    """True for an int or a NumPy integer (a size read from an array), False for a bool (True is no size)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def normalize_shape(shape: Sequence[Dim] | int, what: str = "shape") -> Shape:
    """Return ``shape`` as a tuple of non-negative ints and non-empty strings."""
    if isinstance(shape, int | str):
        shape = (shape,)
    out = []
    for dim in shape:
        if is_integer(dim):
            dim = int(dim)
        elif not isinstance(dim, str):
            raise ShapeError(f"{what}: dimension {dim!r} must be an int or a name, got {type(dim).__name__}")
        if isinstance(dim, int) and dim < 0:
            raise ShapeError(f"{what}: dimension {dim} is negative in {tuple(shape)}")
        if isinstance(dim, str) and not dim:
            raise ShapeError(f"{what}: a named dimension cannot be the empty string")
        out.append(dim)
    return tuple(out)


def normalize_dtype(dtype: object, what: str = "dtype") -> str:
    """Canonical dtype name ('float64', ...) for strings, NumPy dtypes and Python types."""
    import numpy as np

    try:
        name = np.dtype(dtype).name
    except TypeError as exc:
        raise TypeError(f"{what}: {dtype!r} is not a dtype; expected one of {DTYPES}") from exc
    if name not in DTYPES:
        raise TypeError(f"{what}: dtype {name} is not supported; expected one of {DTYPES}")
    return name


def broadcast_shapes(*shapes: Shape, what: str = "broadcast") -> Shape:
    """NumPy broadcasting over shapes whose dims may be names (a name only matches itself or 1)."""
    ndim = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for axis in range(ndim):
        dim: Dim = 1
        for shape in shapes:
            k = axis - (ndim - len(shape))
            if k < 0:
                continue
            d = shape[k]
            if d == 1 or d == dim:
                continue
            if dim == 1:
                dim = d
            else:
                listed = " and ".join(str(tuple(s)) for s in shapes)
                raise ShapeError(f"{what}: shapes {listed} do not broadcast (dim {dim!r} vs {d!r})")
        out.append(dim)
    return tuple(out)


def normalize_axes(axis: int | Sequence[int] | None, ndim: int, what: str = "axis") -> tuple[int, ...]:
    """Sorted, non-negative, unique axes; ``None`` means all axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = set()
    for a in axes:
        if not -ndim <= a < ndim:
            raise ShapeError(f"{what}: axis {a} is out of range for a {ndim}-d tensor")
        out.add(a % ndim)
    if len(out) != len(axes):
        raise ShapeError(f"{what}: repeated axis in {axes}")
    return tuple(sorted(out))


def resolve_shape(shape: Shape, dims: Mapping[str, int]) -> tuple[int, ...]:
    """Replace named dims by their bound sizes."""
    return tuple(d if isinstance(d, int) else dims[d] for d in shape)


def bind_dims(
    name: str, expected: Shape, actual: tuple[int, ...], dims: dict[str, int], origin: dict[str, str]
) -> None:
    """Check ``actual`` against ``expected``; bind named dims into ``dims`` (``origin`` records who bound them)."""
    if len(expected) != len(actual):
        raise ShapeError(f"input {name!r}: expected shape {expected} ({len(expected)}-d), got shape {actual}")
    for want, got in zip(expected, actual):
        if isinstance(want, int):
            if want != got:
                raise ShapeError(f"input {name!r}: expected shape {expected}, got shape {actual}")
        elif want in dims and dims[want] != got:
            raise ShapeError(
                f"input {name!r}: named dim {want!r} is {got} here (shape {actual}, expected {expected}) "
                f"but {dims[want]} in input {origin[want]!r}"
            )
        else:
            dims[want] = got
            origin.setdefault(want, name)


def size_of(shape: Shape) -> int | None:
    """Number of elements, or None when a dim is named."""
    n = 1
    for d in shape:
        if isinstance(d, str):
            return None
        n *= d
    return n


def fixed_size(shape: Shape) -> int:
    """The product of the concrete dims (elements per value of the named ones)."""
    return math.prod(d for d in shape if not isinstance(d, str))
