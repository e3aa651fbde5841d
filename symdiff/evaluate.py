"""The NumPy reference interpreter: evaluates any graph by walking it with each op's ``numpy`` rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .ir import Node, ShapeError, bind_dims, inputs_of, resolve_shape, toposort
from .ops import OPS


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
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise FeedError(f"input {node.name!r}: cannot convert {type(value).__name__} to an array: {exc}") from exc
    if array.dtype.kind not in "biuf" or array.dtype.kind == "f" and node.dtype not in ("float32", "float64"):
        raise FeedError(f"input {node.name!r}: expected {node.dtype} values, got {array.dtype}")
    return array.astype(node.dtype)


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
    values: dict[int, np.ndarray] = {}
    for node in toposort(roots):
        if node.op == "input":
            values[id(node)] = arrays[id(node)]
            continue
        if node.op == "constant":
            values[id(node)] = node.attr("value").array
            continue
        attrs = {k: _resolve(v, dims, node) if k == "shape" else v for k, v in node.attrs}
        with np.errstate(all="ignore"):  # IEEE results (inf, nan) are values here, as in compiled code
            result = OPS[node.op].numpy(*(values[id(i)] for i in node.inputs), **attrs)
        result = np.asarray(result, dtype=node.dtype)
        expected = resolve_shape(node.shape, dims)
        if result.shape != expected:
            raise ShapeError(f"internal: op {node.op} produced shape {result.shape}, expected {expected}")
        values[id(node)] = result
    results = [values[id(r)] for r in roots]
    return results[0] if single else results


def _resolve(shape, dims: dict[str, int], node: Node) -> tuple[int, ...]:
    unbound = [d for d in shape if isinstance(d, str) and d not in dims]
    if unbound:
        raise FeedError(f"named dim {unbound[0]!r} of {node!r} is not bound by any fed input; "
                        "feed a tensor that has it")
    return resolve_shape(shape, dims)
