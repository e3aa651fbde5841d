"""A compiled training step and the arrays it owns: parameters, optimizer state, learning rate, seeds.

The kernel takes ``(*data inputs, *parameters, *state arrays, lr[, dropout_seed])`` and updates the
parameters and state in place; :class:`TrainStep` keeps those arrays so a call needs only the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..compile import CompiledFunction
from ..ir import Node
from ..nn import Module
from .checks import check_learning_rate


def parameter_list(params: Module | Mapping[str, Node] | Sequence[Node]) -> list[Node]:
    """Parameter tensors from a module (its ``parameters``), a name -> tensor mapping or a sequence."""
    if isinstance(params, Module):
        params = params.parameters
    nodes = list(params.values()) if isinstance(params, Mapping) else list(params)
    for node in nodes:
        if not isinstance(node, Node) or node.op != "input":
            raise TypeError(f"parameters must be input tensors (sd.tensor or nn layers' parameters), got {node!r}")
    if not nodes:
        raise ValueError("no parameters to train")
    return nodes


def owned_array(node: Node, value: Any) -> np.ndarray:
    """A fresh C-contiguous array for ``node`` holding ``value``; the error names the tensor and both shapes."""
    array = np.array(value, dtype=node.dtype, order="C", copy=True)
    if array.shape != node.shape:
        raise ValueError(f"value for {node.name!r} has shape {array.shape}, expected {node.shape}")
    return array


def seed_generator(state: Mapping[str, Any]) -> np.random.Generator:
    """A generator continuing from ``state`` (a :attr:`TrainStep.seed_state`); the error says what was expected."""
    generator = np.random.default_rng(0)
    try:
        generator.bit_generator.state = dict(state)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"dropout_seeds: expected the state of a {type(generator.bit_generator).__name__} generator "
                         f"(numpy's bit_generator.state), got {state!r} ({exc})") from None
    return generator


class TrainStep:
    """A compiled training step: forward pass, backward pass and optimizer update in one kernel.

    ``step(*data)`` runs one step on a mini-batch (any batch size) and returns the loss (a tuple
    ``(loss, *outputs)`` when extra outputs were compiled). ``params`` and ``state`` are the live arrays,
    updated in place; ``lr`` (a positive finite number, starting at ``initial_lr``) is fed on every call, so
    changing it does not recompile. When the graph
    reads the shared dropout seed, each call feeds a fresh value drawn from ``seed`` (the generator's state:
    ``seed_state``).
    """

    def __init__(self, fn: CompiledFunction, inputs: Sequence[Node], params: Sequence[Node],
                 state: Mapping[Node, np.ndarray], values: Mapping[str, Any], *, lr: float,
                 dropout_seed: Node | None, seed: int) -> None:
        self.fn = fn
        self.inputs = list(inputs)
        self._param_nodes = list(params)
        self._state_nodes = list(state)
        self._initial_state = {node.name: owned_array(node, value) for node, value in state.items()}
        missing = [p.name for p in self._param_nodes if p.name not in values]
        if missing:
            raise ValueError(f"no starting values for parameters {missing}")
        self.params = {p.name: owned_array(p, values[p.name]) for p in self._param_nodes}
        self.state = {name: array.copy() for name, array in self._initial_state.items()}
        self.lr = self.initial_lr = lr
        self.dropout_seed = dropout_seed
        self._rng = np.random.default_rng(seed)
        self._arrays = [*self.params.values(), *self.state.values()]

    @property
    def lr(self) -> float:
        """The learning rate fed to the next call."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_learning_rate(value)

    def __call__(self, *data: Any) -> Any:
        if len(data) != len(self.inputs):
            names = ", ".join(n.name for n in self.inputs)
            raise TypeError(f"train step takes the data inputs ({names}), got {len(data)} arguments")
        return self.fn(*data, *self._arrays, self._lr, *self.next_seeds())

    @property
    def param_nodes(self) -> list[Node]:
        """The parameter tensors, in the kernel's argument order."""
        return list(self._param_nodes)

    @property
    def seed_state(self) -> dict[str, Any]:
        """The state of the generator the dropout seeds are drawn from, as plain data (NumPy's
        ``bit_generator.state``: a dict of strings and integers), so a saved trainer can continue the same stream
        (:func:`seed_generator`)."""
        return self._rng.bit_generator.state

    def next_seeds(self) -> tuple[int, ...]:
        """The dropout seed of the next step (one draw from the step's generator), or none without dropout."""
        return () if self.dropout_seed is None else (int(self._rng.integers(2**62)),)

    def set_params(self, values: Mapping[str, Any]) -> None:
        """Copy ``values`` (name -> array) into the live parameter arrays (unknown names raise); all are checked
        before any is copied."""
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise KeyError(f"unknown parameters {unknown}; parameters are {list(self.params)}")
        checked = {node.name: owned_array(node, values[node.name]) for node in self._param_nodes if node.name in values}
        for name, array in checked.items():
            np.copyto(self.params[name], array)

    def restore(self, params: Mapping[str, Any], state: Mapping[str, Any], lr: float,
                seeds: np.random.Generator | None = None) -> None:
        """Put a saved step back: every parameter and optimizer state array by name (other names are ignored), the
        learning rate and, when given, the generator the dropout seeds are drawn from (``seeds``). Everything is
        checked before anything changes, so a bad value leaves the step as it was."""
        for what, nodes, given in (("parameters", self._param_nodes, params),
                                   ("optimizer state", self._state_nodes, state)):
            missing = [node.name for node in nodes if node.name not in given]
            if missing:
                raise ValueError(f"no values for the {what} {missing}")
        new_params = {node.name: owned_array(node, params[node.name]) for node in self._param_nodes}
        new_state = {node.name: owned_array(node, state[node.name]) for node in self._state_nodes}
        lr = check_learning_rate(lr)
        for live, new in ((self.params, new_params), (self.state, new_state)):
            for name, array in new.items():
                np.copyto(live[name], array)
        self._lr, self._rng = lr, self._rng if seeds is None else seeds

    def reset_state(self) -> None:
        """Optimizer state back to its starting values (velocities and moments zero, step count 0) and the
        learning rate back to ``initial_lr`` (the optimizer's)."""
        for name, start in self._initial_state.items():
            np.copyto(self.state[name], start)
        self.lr = self.initial_lr

    @property
    def signature(self) -> list[str]:
        """The compiled kernel's argument names, in order."""
        return [node.name for node in self.fn.inputs]

    def __repr__(self) -> str:
        return f"<TrainStep {self.fn.name}({', '.join(n.name for n in self.inputs)}) lr={self._lr:g}>"
