"""Layers and their composition: Dense, PReLU, Maxout, Activation, Sequential and free-form Models."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence

from .. import ops
from ..ir import Node
from ..ops import reshape
from ..ops.convert import as_node
from . import init as initializers
from .activations import get_activation, identity, prelu
from .init import Initializer
from .module import Module, check_features, check_flags, check_positive, parameters_of

ActivationLike = str | Callable[..., Node] | None


def _activation(fn: ActivationLike) -> Callable[..., Node]:
    if fn is None:
        return identity
    return get_activation(fn) if isinstance(fn, str) else fn


class Activation(Module):
    """A parameter-free module applying ``fn`` (an activation name or a function of one node)."""

    prefix = "activation"

    def __init__(self, fn: str | Callable[..., Node], name: str | None = None) -> None:
        self.fn = _activation(fn)
        super().__init__(name)

    def forward(self, x: Node, *, training: bool) -> Node:
        return self.fn(x)


class Dense(Module):
    """``activation(x @ W + b)``: ``W`` of shape (in, out) Glorot-uniform, ``b`` zeros by default; ``dtype`` of
    the parameters float64 (default) or float32."""

    prefix = "dense"

    def __init__(self, in_features: int, out_features: int, activation: ActivationLike = None, *,
                 bias: bool = True, init: str | Initializer = initializers.GLOROT_UNIFORM,
                 dtype: str = "float64", name: str | None = None) -> None:
        super().__init__(name)
        in_features, out_features = check_positive(self, in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.activation = _activation(activation)
        self.W = self.add_parameter("W", (in_features, out_features), init, regularized=True, dtype=dtype)
        self.b = self.add_parameter("b", (out_features,), initializers.ZEROS, regularized=False,
                                    dtype=dtype) if check_flags(self, bias=bias)[0] else None

    def forward(self, x: Node, *, training: bool) -> Node:
        check_features(self, x, self.in_features)
        y = x @ self.W
        return self.activation(y if self.b is None else y + self.b)


class PReLU(Module):
    """Parametric ReLU: ``x`` for positive entries, ``alpha * x`` otherwise, one learnable slope per feature."""

    prefix = "prelu"

    def __init__(self, features: int, *, alpha: float = 0.25, dtype: str = "float64",
                 name: str | None = None) -> None:
        super().__init__(name)
        (features,) = check_positive(self, features=features)
        self.features = features
        self.alpha = self.add_parameter("alpha", (features,), initializers.constant(alpha), regularized=False,
                                        dtype=dtype)

    def forward(self, x: Node, *, training: bool) -> Node:
        check_features(self, x, self.features)
        return prelu(x, self.alpha)


class Maxout(Module):
    """Maxout: ``out_features`` units, each the maximum of ``pieces`` affine functions of the input."""

    prefix = "maxout"

    def __init__(self, in_features: int, out_features: int, pieces: int, *,
                 init: str | Initializer = initializers.GLOROT_UNIFORM, dtype: str = "float64",
                 name: str | None = None) -> None:
        super().__init__(name)
        out_features, pieces = check_positive(self, out_features=out_features, pieces=pieces)
        self.out_features, self.pieces = out_features, pieces
        # One affine map to out * pieces values, grouped per unit: columns [u * pieces, (u + 1) * pieces).
        self.linear = Dense(in_features, out_features * pieces, init=init, dtype=dtype, name=f"{self.name}_linear")

    def children(self) -> Sequence[Module]:
        return (self.linear,)

    def forward(self, x: Node, *, training: bool) -> Node:
        z = self.linear(x)
        return ops.max(reshape(z, z.shape[:-1] + (self.out_features, self.pieces)), axis=-1)


def as_module(item: Module | ActivationLike) -> Module:
    """A module as given; an activation name or function wrapped in :class:`Activation`."""
    return item if isinstance(item, Module) else Activation(item)


class Sequential(Module):
    """Modules applied one after another; items may also be activation names or functions."""

    prefix = "sequential"

    def __init__(self, layers: Iterable[Module | ActivationLike], name: str | None = None) -> None:
        super().__init__(name)
        self.layers = tuple(as_module(item) for item in layers)
        if not self.layers:
            raise ValueError(f"{self!r}: needs at least one layer")

    def children(self) -> Sequence[Module]:
        return self.layers

    def forward(self, x: Node, *, training: bool) -> Node:
        for layer in self.layers:
            x = layer(x, training=training)
        return x


class Model(Module):
    """A free-form DAG: ``fn(*inputs, training=...)`` wires modules together (several inputs/outputs,
    shared weights by reusing a module). ``inputs`` are example input tensors; the parameters are
    those the graphs built on them read (training and inference graphs both)."""

    prefix = "model"

    def __init__(self, fn: Callable[..., Node | Sequence[Node]], inputs: Sequence[Node],
                 name: str | None = None) -> None:
        super().__init__(name)
        self.fn = fn
        self.inputs = tuple(as_node(x) for x in inputs)
        self._takes_training = "training" in inspect.signature(fn).parameters
        graphs = [*self._outputs(True), *self._outputs(False)]
        self._traced = parameters_of(graphs)

    def _outputs(self, training: bool) -> tuple[Node, ...]:
        out = self(*self.inputs, training=training)
        return out if isinstance(out, tuple) else (out,)

    def outputs(self, training: bool = False) -> Node | tuple[Node, ...]:
        """The model's output(s) on its declared inputs."""
        return self(*self.inputs, training=training)

    def local_parameters(self) -> Iterable[Node]:
        return self._traced.values()

    def forward(self, *inputs: Node, training: bool) -> Node | tuple[Node, ...]:
        out = self.fn(*inputs, training=training) if self._takes_training else self.fn(*inputs)
        outs = out if isinstance(out, list | tuple) else (out,)
        for k, node in enumerate(outs):
            if not isinstance(node, Node):
                raise TypeError(f"{self!r}: output {k} of the model function is {type(node).__name__}, not a node")
        return tuple(outs) if isinstance(out, list | tuple) else out
