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


class TrainStep:
    """A compiled training step: forward pass, backward pass and optimizer update in one kernel.

    ``step(*data)`` runs one step on a mini-batch (any batch size) and returns the loss (a tuple
    ``(loss, *outputs)`` when extra outputs were compiled). ``params`` and ``state`` are the live arrays,
    updated in place; ``lr`` (a positive finite number, starting at ``initial_lr``) is fed on every call, so
    changing it does not recompile. When the graph
    reads the shared dropout seed, each call feeds a fresh value drawn from ``seed``.
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

    def next_seeds(self) -> tuple[int, ...]:
        """The dropout seed of the next step (one draw from the step's generator), or none without dropout."""
        return () if self.dropout_seed is None else (int(self._rng.integers(2**62)),)

    def set_params(self, values: Mapping[str, Any]) -> None:
        """Copy ``values`` (name -> array) into the live parameter arrays (unknown names raise)."""
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise KeyError(f"unknown parameters {unknown}; parameters are {list(self.params)}")
        for node in self._param_nodes:
            if node.name in values:
                np.copyto(self.params[node.name], owned_array(node, values[node.name]))

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
