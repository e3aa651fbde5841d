"""Optimizers as symbolic update rules: the new parameter and state values are graphs.

``optimizer.updates(params, grads)`` returns ``{tensor: new value}`` for the parameters and for the
optimizer's state arrays (velocities, moments, Adam's step count), which are extra input tensors named
``<param>_<slot>``. Given to ``sd.compile(..., updates=...)`` they run in the same kernel as the forward
and backward pass, in place. The learning rate is the scalar input ``lr`` (fed on every call, so changing
it never recompiles); the other hyperparameters are constants of the graph.

Weight decay adds ``weight_decay * p`` to the gradient of every parameter except those registered as not
regularized (biases, PReLU slopes, RBF centers and widths), as L2 regularization would.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .. import nn, ops
from ..autodiff import grad as gradients
from ..compile import compile as compile_graph
from ..ir import Node, inputs_of
from ..nn import Module, parameter_spec
from .checks import check_int
from .step import TrainStep, parameter_list

#: The learning-rate input every optimizer's updates read.
LEARNING_RATE = "lr"


def learning_rate() -> Node:
    """The float64 scalar input ``lr``."""
    return ops.scalar(LEARNING_RATE)


@dataclass(frozen=True)
class Slot:
    """A state array of one parameter's shape: the suffix of its tensor name and its starting value."""

    suffix: str
    start: float = 0.0


class HyperparameterError(ValueError):
    """A hyperparameter outside its range; ``name`` is the hyperparameter (``"momentum"``)."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(message)


def _number(owner: str, name: str, value: float, low: float, high: float = np.inf, *,
            closed_high: bool = False) -> float:
    """``value`` as a float after checking ``low <= value < high`` (``<= high`` when ``closed_high``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    above = value <= high if closed_high else value < high
    if not (low <= value and above):
        bracket = "]" if closed_high else ")"
        raise HyperparameterError(name, f"{owner}: {name} must be in [{low}, {high}{bracket}, got {value!r}")
    return value


class Optimizer(ABC):
    """An update rule ``(param, grad, state) -> (new param, new state)`` for every parameter.

    ``lr`` is the starting learning rate (the value fed to the ``lr`` input); ``weight_decay`` adds
    ``weight_decay * p`` to the gradients of weights.
    """

    #: Per-parameter state arrays.
    slots: tuple[Slot, ...] = ()
    #: Name of the shared (1,)-shaped step counter, for rules that need the step number.
    counter: str | None = None

    def __init__(self, lr: float, *, weight_decay: float = 0.0) -> None:
        self.lr = _number(type(self).__name__, "lr", lr, 0.0)
        self.weight_decay = _number(type(self).__name__, "weight_decay", weight_decay, 0.0)

    @abstractmethod
    def rule(self, param: Node, grad: Node, state: dict[str, Node], lr: Node,
             step: Node | None) -> tuple[Node, dict[str, Node]]:
        """The new value of ``param`` and of each of its state arrays (by slot suffix).

        ``step`` is the new step count, shape (1,) (1 on the first call), for rules with a :attr:`counter`.
        """

    def hyperparameters(self) -> dict[str, float | bool]:
        """The settings that define this optimizer (for specs and reprs)."""
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def state_tensors(self, params: Sequence[Node]) -> list[Node]:
        """The state input tensors for ``params``, in argument order (slots per parameter, then the counter)."""
        state = [ops.tensor(f"{p.name}_{slot.suffix}", p.shape, p.dtype) for p in params for slot in self.slots]
        if self.counter is not None:
            state.append(ops.tensor(self.counter, (1,), "float64"))
        return state

    def initial_state(self, params: Sequence[Node]) -> dict[str, np.ndarray]:
        """Starting values of the state arrays by tensor name."""
        starts = {f"{p.name}_{slot.suffix}": slot.start for p in params for slot in self.slots}
        return {node.name: np.full(node.shape, starts.get(node.name, 0.0), dtype=node.dtype)
                for node in self.state_tensors(params)}

    def updates(self, params: Sequence[Node], grads: Sequence[Node]) -> tuple[dict[Node, Node], list[Node]]:
        """``({tensor: new value}, state tensors)`` for ``sd.compile``: parameters and state updated together.

        Every new value is built from the values before the step, so the order of updates does not matter.
        """
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"{type(self).__name__}.updates: {len(params)} parameters but {len(grads)} gradients")
        state = self.state_tensors(params)
        by_name = {node.name: node for node in state}
        taken = {p.name for p in params} & set(by_name)
        if taken:
            raise ValueError(f"{type(self).__name__}: state tensor names {sorted(taken)} clash with parameters")
        lr = learning_rate()
        result: dict[Node, Node] = {}
        step = None
        if self.counter is not None:
            counter = by_name[self.counter]
            result[counter] = step = counter + 1.0
        for param, grad in zip(params, grads):
            if grad.shape != param.shape:
                raise ValueError(f"{type(self).__name__}: gradient of {param.name!r} has shape {grad.shape}, "
                                 f"expected {param.shape}")
            if self.weight_decay and decays(param):
                grad = grad + self.weight_decay * param
            slots = {slot.suffix: by_name[f"{param.name}_{slot.suffix}"] for slot in self.slots}
            new_param, new_slots = self.rule(param, grad, slots, lr, step)
            result[param] = new_param
            result.update((slots[suffix], value) for suffix, value in new_slots.items())
        return result, state

    def compile_step(self, inputs: Sequence[Node], loss: Node,
                     params: Module | Mapping[str, Node] | Sequence[Node], *, outputs: Sequence[Node] = (),
                     values: Mapping[str, np.ndarray] | None = None, seed: int = 0, name: str = "train_step",
                     **compile_options: bool) -> TrainStep:
        """Compile one training step of ``loss`` over ``params`` into a single kernel.

        ``inputs`` are the data tensors passed on each call (e.g. ``[x, y]``); ``outputs`` are extra graphs
        to return besides the loss. ``values`` are the starting parameter values by name (default: the
        registered initializers drawn with ``seed``). The shared dropout seed, if the loss reads it, is fed by
        the step (values drawn from ``seed``). ``compile_options`` go to ``sd.compile`` (``fastmath``, ...).
        """
        seed = check_int("seed", seed, 0)
        nodes = parameter_list(params)
        inputs = list(inputs)
        trained = [node for node in nodes if trainable(node)]
        grads = gradients(loss, trained)
        updates, state = self.updates(trained, grads)
        updates.update(_state_updates(params, nodes))
        seed_node = nn.dropout_seed()
        reads = inputs_of([loss, *outputs])
        dropout = seed_node if any(n is seed_node for n in reads) and all(n is not seed_node for n in inputs) else None
        known = [*inputs, *nodes, *([dropout] if dropout is not None else [])]
        unknown = [n.name for n in reads if all(n is not k for k in known)]
        if unknown:
            raise ValueError(f"compile_step: the loss reads inputs {unknown} that are neither data inputs "
                             f"({[n.name for n in inputs]}) nor parameters; list them in `inputs`")
        args = [*inputs, *nodes, *state, learning_rate(), *([dropout] if dropout is not None else [])]
        fn = compile_graph(args, [loss, *outputs] if outputs else loss, updates, name=name, **compile_options)
        if values is None:
            values = nn.initial_values(nodes, seed)
        initial = self.initial_state(trained)
        return TrainStep(fn, inputs, nodes, {node: initial[node.name] for node in state}, values, lr=self.lr,
                         dropout_seed=dropout, seed=seed)

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({settings})"


def trainable(param: Node) -> bool:
    """Whether the optimizer trains ``param`` (every tensor except non-trainable registered parameters)."""
    spec = parameter_spec(param)
    return spec is None or spec.trainable


def _state_updates(params, nodes: list[Node]) -> dict[Node, Node]:
    """The new values a training step gives the non-trainable parameters (a module's recorded state updates);
    the rest keep their values."""
    recorded = {state.name: value for state, value in params.state_updates().items()} \
        if isinstance(params, nn.Module) else {}
    return {node: recorded[node.name] for node in nodes if not trainable(node) and node.name in recorded}


def decays(param: Node) -> bool:
    """Whether weight decay applies: to every tensor except parameters registered as not regularized."""
    spec = parameter_spec(param)
    return spec is None or spec.regularized


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (Nesterov's or classical), Keras' form.

    Classical: ``v = momentum*v - lr*g; p = p + v``. Nesterov: the same ``v``, then
    ``p = p + momentum*v - lr*g``. Without momentum: ``p = p - lr*g``.
    """

    def __init__(self, lr: float = 0.01, *, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay=weight_decay)
        self.momentum = _number("SGD", "momentum", momentum, 0.0, 1.0)
        if not isinstance(nesterov, bool):
            raise TypeError(f"SGD: nesterov must be true or false, got {nesterov!r}")
        if nesterov and not self.momentum:
            raise HyperparameterError("nesterov", "SGD: nesterov=True needs a momentum in (0, 1)")
        self.nesterov = nesterov
        self.slots = (Slot("velocity"),) if self.momentum else ()

    def hyperparameters(self) -> dict[str, float | bool]:
        return super().hyperparameters() | {"momentum": self.momentum, "nesterov": self.nesterov}

    def rule(self, param, grad, state, lr, step):
        if not self.momentum:
            return param - lr * grad, {}
        velocity = self.momentum * state["velocity"] - lr * grad
        new_param = param + self.momentum * velocity - lr * grad if self.nesterov else param + velocity
        return new_param, {"velocity": velocity}


class Adagrad(Optimizer):
    """``a = a + g²; p = p - lr*g / (sqrt(a) + eps)``; ``a`` starts at ``initial_accumulator``."""

    def __init__(self, lr: float = 0.01, *, eps: float = 1e-8, initial_accumulator: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay=weight_decay)
        self.eps = _number("Adagrad", "eps", eps, 0.0)
        self.initial_accumulator = _number("Adagrad", "initial_accumulator", initial_accumulator, 0.0)
        self.slots = (Slot("accumulator", self.initial_accumulator),)

    def hyperparameters(self) -> dict[str, float | bool]:
        return super().hyperparameters() | {"eps": self.eps, "initial_accumulator": self.initial_accumulator}

    def rule(self, param, grad, state, lr, step):
        accumulator = state["accumulator"] + grad * grad
        return param - lr * grad / (ops.sqrt(accumulator) + self.eps), {"accumulator": accumulator}


class RMSprop(Optimizer):
    """``a = rho*a + (1 - rho)*g²; p = p - lr*g / (sqrt(a) + eps)``."""

    slots = (Slot("mean_square"),)

    def __init__(self, lr: float = 0.001, *, rho: float = 0.9, eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay=weight_decay)
        self.rho = _number("RMSprop", "rho", rho, 0.0, 1.0)
        self.eps = _number("RMSprop", "eps", eps, 0.0)

    def hyperparameters(self) -> dict[str, float | bool]:
        return super().hyperparameters() | {"rho": self.rho, "eps": self.eps}

    def rule(self, param, grad, state, lr, step):
        mean_square = self.rho * state["mean_square"] + (1.0 - self.rho) * grad * grad
        return param - lr * grad / (ops.sqrt(mean_square) + self.eps), {"mean_square": mean_square}


class Adam(Optimizer):
    """Adam (Kingma & Ba): bias-corrected moment estimates ``m`` and ``v``, step count ``t``.

    ``m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g²; p = p - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``.
    """

    slots = (Slot("m"), Slot("v"))
    counter = "adam_t"

    def __init__(self, lr: float = 0.001, *, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay=weight_decay)
        self.beta1 = _number("Adam", "beta1", beta1, 0.0, 1.0)
        self.beta2 = _number("Adam", "beta2", beta2, 0.0, 1.0)
        self.eps = _number("Adam", "eps", eps, 0.0)

    def hyperparameters(self) -> dict[str, float | bool]:
        return super().hyperparameters() | {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def rule(self, param, grad, state, lr, step):
        m = self.beta1 * state["m"] + (1.0 - self.beta1) * grad
        v = self.beta2 * state["v"] + (1.0 - self.beta2) * grad * grad
        # The corrections fold into two scalars (as PyTorch's Adam does): one division per entry, not three
        step_size = lr / ops.sum(1.0 - ops.power(self.beta1, step))
        root = 1.0 / ops.sqrt(ops.sum(1.0 - ops.power(self.beta2, step)))
        return param - step_size * m / (ops.sqrt(v) * root + self.eps), {"m": m, "v": v}


#: Optimizers by the names spec files use.
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam}


def get_optimizer(name: str, settings: Mapping[str, object] | None = None) -> Optimizer:
    """The optimizer called ``name`` (see :data:`OPTIMIZERS`) made with keyword ``settings``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known optimizers: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](**dict(settings or {}))
