"""Graph leaves: named input tensors and constants."""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Dim, Node, normalize_dtype, normalize_shape
from .registry import constant, defop


def _no_numpy(*args, **kwargs):
    raise TypeError("leaves are bound by the evaluator, not computed")


defop("input", "leaf", lambda inputs, attrs: (attrs["shape"], attrs["dtype"]), _no_numpy)
defop("constant", "leaf", lambda inputs, attrs: (attrs["value"].array.shape, attrs["value"].array.dtype.name),
      _no_numpy)


def tensor(name: str, shape: Sequence[Dim] | int = (), dtype: str = "float64") -> Node:
    """A named input tensor; dims are ints or names (``"batch"``) bound when values are fed."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"tensor: name {name!r} must be a Python identifier")
    shape = normalize_shape(shape, f"tensor {name!r}")
    dtype = normalize_dtype(dtype, f"tensor {name!r}")
    return Node("input", (), {"name": name, "shape": shape, "dtype": dtype}, shape, dtype)


def scalar(name: str, dtype: str = "float64") -> Node:
    """A named 0-d input tensor."""
    return tensor(name, (), dtype)


__all__ = ["constant", "scalar", "tensor"]
