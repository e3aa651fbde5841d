"""Argument checking for generated modules (copied verbatim into each one, so exports stand alone).

The generated wrapper takes a fast path (a few shape comparisons, then the kernel's own typed
dispatch); anything unusual goes through ``_checked_args``, which converts what can be converted
and otherwise raises an error naming the argument, the expected and the actual shape/dtype.
"""
import numpy as np


def _checked_args(spec, args):
    """Validate/convert ``args`` against ``spec`` rows ``(name, dtype, shape, updated_in_place)``."""
    dims, origin, out = {}, {}, []
    for (name, dtype, shape, target), value in zip(spec, args):
        if isinstance(value, np.ndarray):
            if value.dtype != np.dtype(dtype):
                raise TypeError(f"argument {name!r}: expected dtype {dtype}, got an array of dtype {value.dtype} "
                                f"(shape {value.shape}); convert it with .astype({dtype!r})")
        else:
            if target:
                raise TypeError(f"argument {name!r} is updated in place, so it must be a NumPy array of dtype "
                                f"{dtype} and shape {shape}; got {type(value).__name__}")
            try:
                value = np.asarray(value)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"argument {name!r}: cannot convert {type(value).__name__} to an array") from exc
            if value.dtype.kind not in "biuf" or value.dtype.kind == "f" and dtype not in ("float32", "float64"):
                raise TypeError(f"argument {name!r}: expected {dtype} values, got {value.dtype}")
            value = value.astype(dtype)
        if value.ndim != len(shape):
            raise ValueError(f"argument {name!r}: expected shape {shape} ({len(shape)}-d), got shape {value.shape}")
        for want, got in zip(shape, value.shape):
            if isinstance(want, int) and want != got:
                raise ValueError(f"argument {name!r}: expected shape {shape}, got shape {value.shape}")
            if isinstance(want, str):
                if want in dims and dims[want] != got:
                    raise ValueError(f"argument {name!r}: named dim {want!r} is {got} here (shape {value.shape}, "
                                     f"expected {shape}) but {dims[want]} in argument {origin[want]!r}")
                dims.setdefault(want, got)
                origin.setdefault(want, name)
        if not value.flags.c_contiguous:
            if target:
                raise ValueError(f"argument {name!r} is updated in place, so it must be C-contiguous; "
                                 "pass np.ascontiguousarray(...) and keep that array")
            value = np.ascontiguousarray(value)
        if not value.flags.writeable:
            if target:
                raise ValueError(f"argument {name!r} is updated in place but is read-only")
            value = value.copy()  # only read, but Numba's typed dispatch takes writeable arrays only
        out.append(value[()] if value.ndim == 0 and not target else value)  # 0-d values pass as scalars
    return out


# Python/NumPy scalars the fast path passes straight to the kernel, per input kind (anything else, e.g. a
# float for an integer input, goes through _checked_args and its error message).
_SCALAR_TYPES = {"int": (int, np.integer), "float": (float, int, np.floating, np.integer), "bool": (bool, np.bool_)}


def _new_workspace(cache, allocate, key, keep=8):
    """Workspace buffers for a new shape signature (the oldest of ``keep`` signatures is dropped)."""
    if len(cache) >= keep:
        cache.pop(next(iter(cache)))
    cache[key] = buffers = allocate(*key)
    return buffers
