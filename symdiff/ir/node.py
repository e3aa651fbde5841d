"""Immutable, hash-consed graph nodes.

A :class:`Node` is ``(op, inputs, attrs)`` plus its inferred ``shape`` and ``dtype``.
Nodes are interned: building the same expression twice returns the same object,
so identical subexpressions are shared (common-subexpression elimination for free).
This module knows no particular op; operator overloads dispatch through
:data:`OPERATORS`, which the op table fills in.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from .shapes import Shape

#: Operator name ("add", "matmul", "getitem", ...) -> builder; filled by ``symdiff.ops``.
OPERATORS: dict[str, Callable[..., Node]] = {}

_INTERNED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_INTERNING = threading.Lock()


class FrozenArray:
    """Hashable wrapper for a NumPy array held in node attributes (constants)."""

    __slots__ = ("array", "_key")

    def __init__(self, array: Any) -> None:
        array = array.copy()
        array.setflags(write=False)
        self.array = array
        self._key = (array.dtype.str, array.shape, array.tobytes())

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FrozenArray) and self._key == other._key

    def __repr__(self) -> str:
        if self.array.ndim == 0:
            return repr(self.array.item())
        return f"array{self.array.shape}"


class Node:
    """One immutable vertex of a tensor expression graph. Build nodes with the ``sd.*`` builders."""

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "__weakref__")
    __array_ufunc__ = None  # make NumPy defer to our reflected operators (np_array * node)

    op: str
    inputs: tuple[Node, ...]
    attrs: tuple[tuple[str, Any], ...]
    shape: Shape
    dtype: str

    def __new__(cls, op: str, inputs: tuple[Node, ...], attrs: dict[str, Any], shape: Shape, dtype: str) -> Node:
        frozen = tuple(sorted(attrs.items()))
        key = (op, tuple(id(i) for i in inputs), frozen, shape, dtype)
        node = _INTERNED.get(key)
        if node is not None:
            return node
        with _INTERNING:  # two threads building the same expression must get the same node
            node = _INTERNED.get(key)
            if node is None:
                node = object.__new__(cls)
                for name, value in (("op", op), ("inputs", inputs), ("attrs", frozen), ("shape", shape),
                                    ("dtype", dtype)):
                    object.__setattr__(node, name, value)
                _INTERNED[key] = node
        return node

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("symdiff nodes are immutable")

    def __copy__(self) -> Node:
        return self  # immutable and interned: a copy would be this node again

    def __deepcopy__(self, memo: dict) -> Node:
        return self

    def attr(self, name: str, default: Any = None) -> Any:
        """The value of attribute ``name`` (or ``default``)."""
        for key, value in self.attrs:
            if key == name:
                return value
        return default

    @property
    def attr_dict(self) -> dict[str, Any]:
        return dict(self.attrs)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def name(self) -> str | None:
        """The name of an input tensor, else None."""
        return self.attr("name") if self.op == "input" else None

    @property
    def T(self) -> Node:  # noqa: N802 - NumPy's name
        return OPERATORS["transpose"](self)

    def __repr__(self) -> str:
        if self.op == "input":
            return f"tensor({self.name!r}, shape={self.shape}, dtype={self.dtype})"
        if self.op == "constant":
            return f"constant({self.attr('value')!r}, dtype={self.dtype})"
        return f"<{self.op} shape={self.shape} dtype={self.dtype}>"

    def __bool__(self) -> bool:
        raise TypeError("a symbolic node has no truth value; use sd.where(...) for conditionals")

    __hash__ = object.__hash__

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        dim = self.shape[0]
        if isinstance(dim, str):
            raise TypeError(f"len() of a tensor whose first dim is the named dim {dim!r}")
        return dim

    def __iter__(self) -> Iterator[Node]:
        # NumPy's: the rows of the first axis; a 0-d tensor or a named first dim raises as len() does
        return (self[k] for k in range(len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> None:
        # without it, np.asarray(node) and np.array([node, node]) made object arrays of nodes, failing far away
        raise TypeError(f"{self!r} is symbolic: it has no values for np.asarray/np.array; compute them with "
                        "sd.evaluate or a compiled function, or build the graph with symdiff's ops (sd.stack)")


def _binary(name: str, reflected: bool = False) -> Callable[[Node, Any], Node]:
    if reflected:
        return lambda self, other: OPERATORS[name](other, self)
    return lambda self, other: OPERATORS[name](self, other)


for _method, _op in (
    ("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("truediv", "divide"),
    ("pow", "power"), ("matmul", "matmul"),
):
    setattr(Node, f"__{_method}__", _binary(_op))
    setattr(Node, f"__r{_method}__", _binary(_op, reflected=True))
for _method, _op in (
    ("lt", "less"), ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal"),
    ("eq", "equal"), ("ne", "not_equal"),
):
    setattr(Node, f"__{_method}__", _binary(_op))
Node.__neg__ = lambda self: OPERATORS["negative"](self)  # type: ignore[method-assign]
Node.__pos__ = lambda self: self  # type: ignore[method-assign]
Node.__abs__ = lambda self: OPERATORS["abs"](self)  # type: ignore[method-assign]
Node.__getitem__ = lambda self, index: OPERATORS["getitem"](self, index)  # type: ignore[method-assign]
