"""The graph interpreter: values of nodes from their inputs' values by each op's NumPy rule.

``sd.evaluate`` runs it on a whole graph from a feed; ops whose value is a graph of their own (scan's body) run it
on that graph, which is why it lives with the op table rather than with the evaluator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..ir import Node, ShapeError, resolve_shape, toposort
from .registry import OPS


def interpret(roots: Iterable[Node], values: dict[int, np.ndarray], dims: Mapping[str, int],
              error: type[Exception] = ShapeError) -> dict[int, np.ndarray]:
    """Fill ``values`` (node id -> array, the inputs' given) for every node ``roots`` need; named dims resolve
    through ``dims`` (a dim missing there raises ``error`` naming the node)."""
    for node in toposort(list(roots)):
        if id(node) in values:
            continue
        if node.op == "constant":
            values[id(node)] = node.attr("value").array
            continue
        if node.op == "input":
            raise error(f"input {node.name!r} (shape {node.shape}, {node.dtype}) has no value")
        attrs = {k: _resolve(v, dims, node, error) if k == "shape" else v for k, v in node.attrs}
        if isinstance(attrs.get("length"), str):  # a loop's number of steps may be a named dim
            attrs["length"] = _resolve((attrs["length"],), dims, node, error)[0]
        with np.errstate(all="ignore"):  # IEEE results (inf, nan) are values here, as in compiled code
            result = OPS[node.op].numpy(*(values[id(i)] for i in node.inputs), **attrs)
        result = np.asarray(result, dtype=node.dtype)
        expected = _resolve(node.shape, dims, node, error)
        if result.shape != expected:
            raise ShapeError(f"internal: op {node.op} produced shape {result.shape}, expected {expected}")
        values[id(node)] = result
    return values


def _resolve(shape, dims: Mapping[str, int], node: Node, error: type[Exception]) -> tuple[int, ...]:
    unbound = [d for d in shape if isinstance(d, str) and d not in dims]
    if unbound:
        raise error(f"named dim {unbound[0]!r} of {node!r} is not bound by any fed input; feed a tensor that has it")
    return resolve_shape(shape, dims)
