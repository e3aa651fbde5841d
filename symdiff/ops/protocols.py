"""NumPy habits on nodes: the array methods users type without thinking (``x.sum()``, ``x.reshape(2, -1)``,
``x.astype("float32")``), and NumPy's ufunc and function protocols, so ``np.exp(x)``, ``np.sum(x, axis=0)`` and
``array * x`` build graphs instead of object arrays. Anything without a symbolic counterpart raises a TypeError
naming it."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..ir import Node
from . import binary, elementwise, indexing, linalg, reductions, shape_ops, statistics
from .einsum import einsum

UFUNCS = {
    np.add: binary.add, np.subtract: binary.subtract, np.multiply: binary.multiply, np.divide: binary.divide,
    np.power: binary.power, np.maximum: binary.maximum, np.minimum: binary.minimum, np.arctan2: binary.arctan2,
    np.less: binary.less, np.less_equal: binary.less_equal, np.greater: binary.greater,
    np.greater_equal: binary.greater_equal, np.equal: binary.equal, np.not_equal: binary.not_equal,
    np.square: binary.square, np.reciprocal: binary.reciprocal, np.matmul: linalg.matmul,
    np.negative: elementwise.negative, np.exp: elementwise.exp, np.exp2: elementwise.exp2,
    np.expm1: elementwise.expm1, np.log: elementwise.log, np.log2: elementwise.log2, np.log10: elementwise.log10,
    np.log1p: elementwise.log1p, np.sqrt: elementwise.sqrt, np.sin: elementwise.sin, np.cos: elementwise.cos,
    np.tan: elementwise.tan, np.arctan: elementwise.arctan, np.tanh: elementwise.tanh, np.absolute: elementwise.abs,
    np.sign: elementwise.sign, np.floor: elementwise.floor, np.ceil: elementwise.ceil, np.rint: elementwise.round,
    np.sinh: elementwise.sinh, np.cosh: elementwise.cosh,
}

FUNCTIONS = {
    np.sum: reductions.sum, np.mean: reductions.mean, np.max: reductions.max, np.min: reductions.min,
    np.amax: reductions.max, np.amin: reductions.min, np.var: statistics.var, np.std: statistics.std,
    np.prod: statistics.prod, np.argmax: statistics.argmax,
    np.argmin: statistics.argmin, np.reshape: shape_ops.reshape, np.transpose: shape_ops.transpose,
    np.swapaxes: shape_ops.swapaxes, np.expand_dims: shape_ops.expand_dims, np.squeeze: shape_ops.squeeze,
    np.broadcast_to: shape_ops.broadcast_to, np.concatenate: indexing.concatenate, np.stack: statistics.stack,
    np.take_along_axis: indexing.take_along_axis, np.where: binary.where, np.clip: binary.clip,
    np.dot: linalg.dot, np.einsum: einsum, np.round: elementwise.round, np.around: elementwise.round,
}


def _array_ufunc(self: Node, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Node:
    build = UFUNCS.get(ufunc)
    if build is None or method != "__call__" or kwargs:
        what = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        extra = f" with {sorted(kwargs)}" if kwargs and build is not None else ""
        raise TypeError(f"{what}{extra} has no symbolic counterpart in symdiff; use the sd.* builders")
    return build(*inputs)


#: NumPy parameter names that symdiff's builders spell otherwise (the first parameter always maps to the first).
_RENAMED = {np.swapaxes: {"axis1": "a", "axis2": "b"}, np.where: {"x": "a", "y": "b"},
            np.clip: {"a_min": "lo", "a_max": "hi", "min": "lo", "max": "hi"}}


def numpy_call(func: Any, build: Any, name: str, args: tuple, kwargs: dict) -> Node:
    """``build`` called as NumPy's ``func(*args, **kwargs)`` would be: the arguments bind to NumPy's own signature
    (so ``np.sum(x, 1, np.float64)`` passes a dtype, not symdiff's ``keepdims``), an argument left at NumPy's default
    is dropped, a ``dtype`` casts the array arguments and the result (NumPy's accumulator and result type), and an
    argument symdiff's builder lacks raises a TypeError naming ``name`` and the argument."""
    signature, numpy_signature = inspect.signature(build), inspect.signature(func)
    try:
        bound = numpy_signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from None
    parameters, positional, call, dtype = numpy_signature.parameters, [], {}, None
    for index, (given, value) in enumerate(bound.arguments.items()):
        if parameters[given].kind is inspect.Parameter.VAR_POSITIONAL:
            positional.extend(value)
            continue
        target = next(iter(signature.parameters)) if index == 0 else _RENAMED.get(func, {}).get(given, given)
        if target in signature.parameters:
            call[target] = value
        elif given == "dtype" and value is not None:
            dtype, first = value, next(iter(call))
            call[first] = [_cast(a, value) for a in call[first]] if isinstance(call[first], list | tuple) \
                else _cast(call[first], value)
        elif value is not parameters[given].default:
            raise TypeError(f"{name}: symdiff's {build.__name__}{signature} does not take {given!r}")
    result = build(*positional, **call)
    return result if dtype is None else _cast(result, dtype)  # the result's dtype too (an int32 sum is int64)


def _cast(x: Any, dtype: Any) -> Node:
    return elementwise.cast(x, np.dtype(dtype).name)


def _array_function(self: Node, func: Any, types: tuple, args: tuple, kwargs: dict) -> Any:
    build = FUNCTIONS.get(func)
    name = "np." + ".".join([*func.__module__.split(".")[1:], func.__name__])  # np.linalg.norm, not np.norm
    if build is None:
        raise TypeError(f"{name} has no symbolic counterpart in symdiff; use the sd.* builders")
    return numpy_call(func, build, name, args, kwargs)


def _method(func: Any, build: Any) -> Any:
    """The array method ``x.<name>(...)``, bound as NumPy's ``func(x, ...)``."""
    def method(self: Node, *args: Any, **kwargs: Any) -> Node:
        return numpy_call(func, build, f"x.{func.__name__}", (self, *args), kwargs)
    method.__name__ = method.__qualname__ = func.__name__
    method.__doc__ = f"``np.{func.__name__}(x, ...)``: symdiff's :func:`{build.__name__}` with NumPy's arguments."
    return method


def register(func: Any, build: Any) -> None:
    """``np.<func>`` and the array method of that name build with ``build``, a builder of a layer above the op table
    (``sd.cumsum`` is a loop, symdiff/autodiff/cumulative.py)."""
    FUNCTIONS[func] = build
    setattr(Node, func.__name__, _method(func, build))


def _reshape(self: Node, *shape: Any) -> Node:
    return shape_ops.reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int | str) else shape)


def _transpose(self: Node, *axes: Any) -> Node:
    return shape_ops.transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes or None)


def _size(self: Node) -> int:
    named = [d for d in self.shape if isinstance(d, str)]
    if named:
        raise TypeError(f"size of a tensor with the named dim {named[0]!r} is known only when it is called; "
                        "use sd.count(x) for a symbolic count")
    return int(np.prod(self.shape, dtype=np.int64))


def install() -> None:
    """Give :class:`Node` the NumPy array methods and protocols (called once, when the op table loads)."""
    methods = {
        **{func.__name__: _method(func, FUNCTIONS[func]) for func in (
            np.sum, np.mean, np.max, np.min, np.var, np.std, np.prod, np.argmax, np.argmin)},
        "astype": elementwise.cast,
        "reshape": _reshape, "transpose": _transpose, "__array_ufunc__": _array_ufunc,
        "__array_function__": _array_function,
    }
    for name, fn in methods.items():
        setattr(Node, name, fn)
    Node.size = property(_size)  # type: ignore[attr-defined]
    Node.__array_priority__ = 1000  # type: ignore[attr-defined]
