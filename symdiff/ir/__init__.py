"""The graph IR: interned nodes, shapes and graph walks. Imports nothing else from symdiff."""

from .graph import NodeMap, count_nodes, depends_on, inputs_of, toposort, unbound_dims
from .node import OPERATORS, FrozenArray, Node
from .shapes import (
    DTYPES,
    FLOAT_DTYPES,
    Dim,
    Shape,
    ShapeError,
    bind_dims,
    broadcast_shapes,
    fixed_size,
    is_integer,
    normalize_axes,
    normalize_dtype,
    normalize_shape,
    resolve_shape,
    size_of,
)

__all__ = [
    "DTYPES", "FLOAT_DTYPES", "OPERATORS", "Dim", "FrozenArray", "Node", "NodeMap", "Shape", "ShapeError",
    "bind_dims", "broadcast_shapes", "count_nodes", "depends_on", "inputs_of", "is_integer", "normalize_axes",
    "normalize_dtype", "normalize_shape", "resolve_shape", "fixed_size", "size_of", "toposort",
    "unbound_dims",
]
