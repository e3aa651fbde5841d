"""Weight penalties as graphs to add to a loss: L2 (weight decay), L1 and elastic net.

Given a module, they penalise its ``weights`` (weight matrices, not biases); given tensors, exactly those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import reduce

from .. import ops
from ..ir import Node
from ..ops import add, constant
from .module import Module

Weights = Module | Mapping[str, Node] | Iterable[Node]


def _weights(source: Weights) -> list[Node]:
    if isinstance(source, Module):
        return list(source.weights.values())
    if isinstance(source, Mapping):
        return list(source.values())
    return list(source)


def _total(terms: list[Node]) -> Node:
    return reduce(add, terms) if terms else constant(0.0)


def l2(source: Weights, scale: float) -> Node:
    """``scale * sum ||W||^2`` over the weights; its gradient is ``2 scale W`` (weight decay ``2 scale``)."""
    return float(scale) * _total([ops.sum(w * w) for w in _weights(source)])


def l1(source: Weights, scale: float) -> Node:
    """``scale * sum |W|`` over the weights (its gradient at 0 is 0, the midpoint convention)."""
    return float(scale) * _total([ops.sum(ops.abs(w)) for w in _weights(source)])


def elastic_net(source: Weights, l1_scale: float, l2_scale: float) -> Node:
    """``l1_scale * sum |W| + l2_scale * sum ||W||^2``."""
    return l1(source, l1_scale) + l2(source, l2_scale)
