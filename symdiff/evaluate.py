"""The NumPy reference interpreter: evaluates any graph by walking it with each op's ``numpy`` rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .codegen.runtime import _values
from .ir import Node, bind_dims, inputs_of
from .ops.interpret import interpret


class FeedError(ValueError):
    """A missing, misnamed or ill-shaped/ill-typed input value."""


def bind_feed(inputs: Sequence[Node], feed: Mapping[Node | str, Any]) -> tuple[dict[int, np.ndarray], dict[str, int]]:
    """Check ``feed`` against ``inputs``: values by node id, and the named-dim sizes they imply."""
    by_name: dict[str, Node] = {}
    for node in inputs:
        if node.name in by_name and by_name[node.name] is not node:
            raise FeedError(f"two different input tensors are both named {node.name!r}: "
                            f"{by_name[node.name]!r} and {node!r}")
        by_name[node.name] = node
    values: dict[int, Any] = {}
    for key, value in feed.items():
        if isinstance(key, str):
            if key not in by_name:
                continue  # extra named feeds are allowed: one feed dict can serve several graphs
            key = by_name[key]
        elif not isinstance(key, Node) or key.op != "input":
            raise FeedError(f"feed keys must be input tensors or their names, got {key!r}")
        values[id(key)] = value
    arrays: dict[int, np.ndarray] = {}
    dims: dict[str, int] = {}
    origin: dict[str, str] = {}
    for node in inputs:
        if id(node) not in values:
            raise FeedError(f"input {node.name!r} (shape {node.shape}, {node.dtype}) has no value in the feed")
        array = as_input_array(node, values[id(node)])
        bind_dims(node.name, node.shape, array.shape, dims, origin)
        arrays[id(node)] = array
    return arrays, dims


def as_input_array(node: Node, value: Any) -> np.ndarray:
    """``value`` as an array of ``node``'s dtype; arrays of another dtype are rejected, not converted."""
    if isinstance(value, np.ndarray):
        if value.dtype.name != node.dtype:
            raise FeedError(f"input {node.name!r}: expected dtype {node.dtype}, got an array of dtype {value.dtype} "
                            f"(shape {value.shape}); convert it with .astype({node.dtype!r})")
        return value
    try:
        return _values(f"input {node.name!r}", value, node.dtype)
    except (TypeError, OverflowError) as exc:
        raise FeedError(str(exc)) from exc.__cause__


def evaluate(outputs: Node | Sequence[Node], feed: Mapping[Node | str, Any]) -> np.ndarray | list[np.ndarray]:
    """Evaluate ``outputs`` with NumPy, given ``feed`` (input tensors or their names -> values).

    Returns an array for a single node, a list for a list. Errors name the offending input and shapes.
    """
    single = isinstance(outputs, Node)
    roots = [outputs] if single else list(outputs)
    needed = inputs_of(roots)
    # Fed tensors outside the graph still bind named dims (e.g. a zero gradient shaped like them).
    extra = [k for k in feed if isinstance(k, Node) and k.op == "input" and all(k is not n for n in needed)]
    arrays, dims = bind_feed(needed + extra, feed)
    values = interpret(roots, {id(n): arrays[id(n)] for n in needed}, dims, FeedError)
    results = [values[id(r)] for r in roots]
    return results[0] if single else results

