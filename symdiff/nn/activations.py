"""Activation functions over nodes, and their lookup by name (for spec files).

All are compositions of ops, so every derivative order is exact. At kinks the derivative is the
midpoint of the one-sided derivatives (the project's convention): relu'(0) = 1/2,
leaky_relu'(0) = (1 + alpha)/2, elu'(0) = (1 + alpha)/2.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from .. import ops
from ..ir import Node
from ..ops import expm1, log_softmax, minimum, relu, sigmoid, softmax, softplus, sqrt, tanh
from ..ops.convert import as_node
from ..ops.elementwise import to_float
from .sparsemax import sparsemax


def identity(x) -> Node:
    """``x`` unchanged."""
    return as_node(x)


def prelu(x, alpha) -> Node:
    """``x`` for positive entries, ``alpha * x`` for negative ones (``alpha`` may be a learnable tensor)."""
    x = to_float(as_node(x))
    return relu(x) - alpha * relu(-x)


def leaky_relu(x, alpha: float = 0.01) -> Node:
    """:func:`prelu` with a fixed slope ``alpha`` for negative inputs."""
    return prelu(x, float(alpha))


def elu(x, alpha: float = 1.0) -> Node:
    """``x`` for positive entries, ``alpha * (exp(x) - 1)`` otherwise."""
    x = to_float(as_node(x))
    # exp sees only min(x, 0), so large positive inputs cannot overflow in either derivative branch.
    return relu(x) + float(alpha) * expm1(minimum(x, 0.0))


def l2_normalize(x, axis: int = -1, eps: float = 1e-12) -> Node:
    """``x / sqrt(sum(x**2, axis) + eps)``: unit Euclidean length along ``axis``."""
    x = to_float(as_node(x))
    return x / sqrt(ops.sum(x * x, axis=axis, keepdims=True) + float(eps))


#: name -> function of one node; ``register_activation`` adds user-made ones.
ACTIVATIONS: dict[str, Callable[..., Node]] = {
    "identity": identity, "sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu,
    "elu": elu, "softplus": softplus, "softmax": softmax, "log_softmax": log_softmax, "sparsemax": sparsemax,
    "l2_normalize": l2_normalize,
}


def register_activation(name: str, fn: Callable[..., Node]) -> None:
    """Make ``fn`` available to :func:`get_activation` under ``name`` (a taken name raises)."""
    if ACTIVATIONS.get(name, fn) is not fn:
        raise ValueError(f"activation name {name!r} is taken by {ACTIVATIONS[name]!r}")
    ACTIVATIONS[name] = fn


def get_activation(name: str, **params: float) -> Callable[..., Node]:
    """The activation called ``name``; keyword ``params`` fix its options (``alpha=0.2`` for leaky_relu)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known activations: {', '.join(sorted(ACTIVATIONS))} "
                         "(prelu and maxout have parameters: use the nn.PReLU and nn.Maxout layers)")
    fn = ACTIVATIONS[name]
    return partial(fn, **params) if params else fn
