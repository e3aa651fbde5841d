"""Argument checking for generated modules (copied verbatim into each one, so exports stand alone).

The generated wrapper takes a fast path (a few shape comparisons, then the kernel's own typed
dispatch); anything unusual goes through ``_checked_args``, which converts what can be converted
and otherwise raises an error naming the argument, the expected and the actual shape/dtype.
"""
import types

import numpy as np


def _checked_args(spec, args):
    """Validate/convert ``args`` against ``spec`` rows ``(name, dtype, shape, updated_in_place)``. Called when the
    kernel refused them, it raises ``from None``: the kernel's own refusal is not the caller's to read."""
    dims, origin, out = {}, {}, []
    for (name, dtype, shape, target), value in zip(spec, args):
        if isinstance(value, np.ndarray):
            if value.dtype != np.dtype(dtype):
                raise TypeError(f"argument {name!r}: expected dtype {dtype}, got an array of dtype {value.dtype} "
                                f"(shape {value.shape}); convert it with .astype({dtype!r})") from None
        else:
            if target:
                raise TypeError(f"argument {name!r} is updated in place, so it must be a NumPy array of dtype "
                                f"{dtype} and shape {shape}; got {type(value).__name__}") from None
            value = _values(f"argument {name!r}", value, dtype)
        if value.ndim != len(shape):
            raise ValueError(f"argument {name!r}: expected shape {shape} ({len(shape)}-d), "
                             f"got shape {value.shape}") from None
        for want, got in zip(shape, value.shape):
            if isinstance(want, int) and want != got:
                raise ValueError(f"argument {name!r}: expected shape {shape}, got shape {value.shape}") from None
            if isinstance(want, str):
                if want in dims and dims[want] != got:
                    raise ValueError(f"argument {name!r}: named dim {want!r} is {got} here (shape {value.shape}, "
                                     f"expected {shape}) but {dims[want]} in argument {origin[want]!r}") from None
                dims.setdefault(want, got)
                origin.setdefault(want, name)
        if not value.flags.c_contiguous:
            if target:
                raise ValueError(f"argument {name!r} is updated in place, so it must be C-contiguous; "
                                 "pass np.ascontiguousarray(...) and keep that array") from None
            value = np.ascontiguousarray(value)
        if not value.flags.writeable:
            if target:
                raise ValueError(f"argument {name!r} is updated in place but is read-only") from None
            value = value.copy()  # only read, but Numba's typed dispatch takes writeable arrays only
        out.append(value[()] if value.ndim == 0 and not target else value)  # 0-d values pass as scalars
    return out


def _values(what, value, dtype):
    """``value``, not an array, as an array of ``dtype`` if it holds such values exactly: no floats for an
    integer dtype, no integers outside its range (a cast wraps them around). Errors start with ``what``."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what}: cannot convert {type(value).__name__} to an array: {exc}") from exc
    kind, ints = np.dtype(dtype).kind, array
    if kind == "i" and array.dtype.kind in "fO":  # NumPy makes Python ints beyond int64 floats or objects
        ints = np.asarray(value, object)
        ints = ints if all(isinstance(v, int | np.integer) for v in ints.flat) else array
    if ints is array and (array.dtype.kind not in "biuf" or array.dtype.kind == "f" and kind != "f"):
        raise TypeError(f"{what}: expected {dtype} values, got {array.dtype}") from None
    if kind == "i":
        low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
        outside = ints[(ints < low) | (ints > high)]
        if outside.size:
            raise OverflowError(f"{what}: {outside.flat[0]} is outside the range of {dtype}, [{low}, {high}]; pass "
                                f"values in range{' or make the input int64' if dtype == 'int32' else ''}") from None
    return ints.astype(dtype)


#: What a kernel raises when an argument shares memory with one it updates in place; the entry then names them.
_OVERLAP_MESSAGE = "arguments share memory with an array the function updates in place"


def _shared_memory(spec, args):
    """The error naming two arguments that share memory, one of them updated in place."""
    arrays = [(name, a, target) for (name, _, _, target), a in zip(spec, args) if isinstance(a, np.ndarray)]
    for i, (name, a, target) in enumerate(arrays):
        for other, b, other_target in arrays[i + 1:]:
            if (target or other_target) and np.shares_memory(a, b):
                updated = name if target else other
                return ValueError(f"arguments {name!r} and {other!r} share memory, but {updated!r} is updated in "
                                  "place; pass separate arrays (e.g. a .copy())")
    return ValueError(_OVERLAP_MESSAGE)


# Python/NumPy scalars the fast path passes straight to the kernel, per input kind (anything else, e.g. a
# float for an integer input, goes through _checked_args and its error message).
_SCALAR_TYPES = {"int": (int, np.integer), "float": (float, int, np.floating, np.integer), "bool": (bool, np.bool_)}


def _aligned(size, dtype, alignment):
    """``np.empty(size, dtype)`` starting on an ``alignment``-byte boundary, as the kernel lays out its workspace
    slots."""
    nbytes = size * np.dtype(dtype).itemsize
    raw = np.empty(nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + nbytes].view(dtype)


class _Workspaces:
    """Workspace buffers by shape signature, in pools: a call takes a set (allocating one when none is free) and
    gives it back, so concurrent calls never share buffers. The pools keep the most recently allocated shape's
    sets whatever their size, and older shapes' sets while ``nbytes`` stays within ``limit``."""

    def __init__(self, allocate, limit=64 << 20):
        self.allocate_for, self.limit = allocate, limit
        self.pools, self.sizes = {}, {}  # shape key -> free buffer sets (oldest shape first), bytes of one set
        self.nbytes = 0  # bytes of every set allocated and not dropped, in pools or in use
        self.dropped = types.SimpleNamespace(append=self._free)  # where sets of a shape dropped meanwhile go back

    def allocate(self, key):
        """A new set of buffers for ``key`` (the slow path of taking one from its pool)."""
        buffers = self.allocate_for(*key)
        self.pools[key] = self.pools.pop(key, [])  # the most recent shape goes last
        self.sizes[key] = sum(b.nbytes for b in buffers)
        self.nbytes += self.sizes[key]
        for old in list(self.pools)[:-1]:  # drop the oldest shapes' free sets until within the limit
            if self.nbytes <= self.limit:
                break
            self.nbytes -= self.sizes[old] * len(self.pools.pop(old))
        return buffers

    def clear(self):
        """Drop every free set (sets in use by running calls are dropped when they come back)."""
        for key in list(self.pools):
            self.nbytes -= self.sizes[key] * len(self.pools.pop(key))

    def _free(self, buffers):
        self.nbytes -= sum(b.nbytes for b in buffers)
