"""Modules (functions of tensors that own named parameters) and the parameter registry.

A parameter is an ordinary input tensor (``sd.tensor``) whose name is ``<layer>_<local>``, e.g.
``dense1_W``; the registry remembers how to initialise it and whether regularizers apply to it.
Because nodes are interned, a parameter *is* its name: reusing a layer object (or a layer name
with the same shapes) shares weights, and any graph can be searched for the parameters it reads.
"""

from __future__ import annotations

import math
import numbers
import weakref
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import count

import numpy as np

from ..ir import FLOAT_DTYPES, Node, ShapeError, fixed_size, inputs_of, is_integer, normalize_dtype
from ..ops import tensor
from ..ops.convert import as_node
from .init import Initializer, get_initializer


@dataclass(frozen=True)
class ParameterSpec:
    """How a parameter starts (``init``), whether weight penalties apply to it (``regularized``) and whether the
    optimizer trains it (``trainable``; false for state a module updates itself, like batch norm's running
    statistics: saved, restored and fed like any parameter, never differentiated)."""

    init: Initializer
    regularized: bool
    trainable: bool = True


# name -> (weak reference to the parameter's node, its spec); dead entries are simply replaced.
_PARAMETERS: dict[str, tuple[weakref.ref, ParameterSpec]] = {}
# Names of live modules, so automatic names never collide with a name in use.
_LIVE_NAMES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_COUNTERS: dict[str, count] = {}


def parameter(name: str, shape: Sequence[int], init: str | Initializer, *, regularized: bool,
              dtype: str = "float64", trainable: bool = True) -> Node:
    """The parameter tensor ``name``, registered with its initializer (the same request twice is one node)."""
    shape = tuple(shape)
    if any(not isinstance(d, int) for d in shape):
        raise ShapeError(f"parameter {name!r}: shape {shape} must be concrete (ints only)")
    if normalize_dtype(dtype) not in FLOAT_DTYPES:
        raise TypeError(f"parameter {name!r}: dtype must be float64 or float32, got {dtype!r}")
    node = tensor(name, shape, dtype)
    spec = ParameterSpec(get_initializer(init), bool(regularized), bool(trainable))
    entry = _PARAMETERS.get(name)
    old = entry[0]() if entry is not None else None
    if old is not None and (old is not node or entry[1] != spec):
        raise ValueError(
            f"parameter {name!r} already exists with shape {old.shape} ({old.dtype}, {entry[1]}); a layer now asks "
            f"for shape {shape} ({dtype}, {spec}). Give the layer another name, or reuse the layer object to share "
            "its weights")
    _PARAMETERS[name] = (weakref.ref(node), spec)
    return node


def parameter_spec(node: Node) -> ParameterSpec | None:
    """The registered spec of a parameter node, or None for any other node."""
    entry = _PARAMETERS.get(node.name) if node.op == "input" else None
    return entry[1] if entry is not None and entry[0]() is node else None


def parameters_of(outputs: Node | Iterable[Node]) -> dict[str, Node]:
    """The registered parameters a graph reads, by name, in first-use order."""
    return {n.name: n for n in inputs_of(outputs) if parameter_spec(n) is not None}


def initial_values(params: Iterable[Node], seed: int = 0) -> dict[str, np.ndarray]:
    """Starting values by parameter name. Each draw depends only on ``seed`` and the parameter's name,
    so adding a layer never changes the others' starting values."""
    values = {}
    for node in params:
        spec = parameter_spec(node)
        if spec is None:
            raise ValueError(f"{node!r} is not a registered parameter; create it with nn.parameter(...)")
        rng = np.random.default_rng([seed, zlib.crc32(node.name.encode())])
        values[node.name] = np.asarray(spec.init(rng, node.shape), dtype=node.dtype)
    return values


def claim_name(name: str | None, prefix: str, module: Module) -> str:
    """``name`` checked, or the first free ``<prefix><n>`` (dense1, dense2, ...)."""
    if name is None:
        counter = _COUNTERS.setdefault(prefix, count(1))
        name = next(f"{prefix}{n}" for n in counter if f"{prefix}{n}" not in _LIVE_NAMES)
    elif not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"layer name {name!r} must be a Python identifier")
    _LIVE_NAMES[name] = module
    return name


class Module(ABC):
    """A function of tensors with named parameters; call it on nodes to build a graph.

    ``parameters`` maps names to parameter tensors, ``weights`` lists the ones regularizers penalise
    (not biases), ``init(seed)`` draws starting values. ``training=True`` builds the training-time
    graph (dropout active); the default builds the inference graph.
    """

    prefix = "module"

    def __init__(self, name: str | None = None) -> None:
        self.name = claim_name(name, self.prefix, self)
        self._declared: dict[str, Node] = {}
        self._state_updates: dict[str, tuple[Node, Node]] = {}

    def add_parameter(self, local: str, shape: Sequence[int], init: str | Initializer, *,
                      regularized: bool, dtype: str = "float64", trainable: bool = True) -> Node:
        """Declare the parameter ``<name>_<local>`` (a floating-point ``dtype``: float64 or float32);
        ``trainable=False`` for state the module updates itself (see :meth:`update_state`)."""
        node = parameter(f"{self.name}_{local}", shape, init, regularized=regularized, dtype=dtype,
                         trainable=trainable)
        self._declared[local] = node
        return node

    def update_state(self, state: Node, value: Node) -> None:
        """Record that a training step sets the non-trainable parameter ``state`` to ``value`` (a graph of the
        step's inputs). Called by :meth:`forward` when ``training=True``; the last recorded graph is used."""
        self._state_updates[state.name] = (state, value)

    def state_updates(self) -> dict[Node, Node]:
        """The non-trainable parameters a training step updates, and their new values (this module and every
        descendant, as recorded by their last training-mode call)."""
        return {state: value for module in self.modules() for state, value in module._state_updates.values()}

    def children(self) -> Sequence[Module]:
        """Sub-modules whose parameters belong to this one."""
        return ()

    def local_parameters(self) -> Iterable[Node]:
        """Parameters this module reads besides its children's."""
        return self._declared.values()

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, each once."""
        seen: set[int] = set()
        stack: list[Module] = [self]
        while stack:
            module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield module
            stack.extend(reversed(module.children()))

    @property
    def parameters(self) -> dict[str, Node]:
        """Every parameter tensor by name (shared ones once)."""
        found: dict[str, Node] = {}
        declared_by: dict[str, Module] = {}
        for module in self.modules():
            for node in module._declared.values():
                other = declared_by.setdefault(node.name, module)
                if other is not module:
                    raise ValueError(f"two different layers, {other!r} and {module!r}, both declare parameter "
                                     f"{node.name!r}; rename one, or reuse one layer object to share weights")
            for node in module.local_parameters():
                previous = found.setdefault(node.name, node)
                if previous is not node:
                    raise ValueError(f"{self!r}: two different tensors are named {node.name!r}: "
                                     f"{previous!r} and {node!r}")
        return found

    @property
    def weights(self) -> dict[str, Node]:
        """The parameters weight penalties apply to (weights, not biases)."""
        return {k: p for k, p in self.parameters.items() if parameter_spec(p).regularized}

    def init(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Starting values of every parameter, by name (feed them to ``sd.evaluate`` directly)."""
        return initial_values(self.parameters.values(), seed)

    def __call__(self, *inputs, training: bool = False):
        return self.forward(*(as_node(x) for x in inputs), training=bool(training))

    @abstractmethod
    def forward(self, *inputs: Node, training: bool) -> Node:
        """Build this module's output graph from its input nodes."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def summary(self, x: Node) -> str:
        """A Keras-like table for input ``x``, returned as a string (``print`` it): each layer (the children, in
        order), its output shape and the parameters it adds, then the model's total. A layer used again (shared
        weights) adds none: its later rows read ``0 (shared)``, and the total counts its parameters once."""
        rows, counted = [], set()
        for module in self.children() or (self,):
            x = module(x)
            params = module.parameters
            added = sum(fixed_size(p.shape) for name, p in params.items() if name not in counted)
            shared = " (shared)" if counted.intersection(params) else ""
            counted.update(params)
            rows.append((f"{module.name} ({type(module).__name__})", str(x.shape), f"{added:,}{shared}"))
        rows.append(("total", "", f"{sum(fixed_size(p.shape) for p in self.parameters.values()):,}"))
        widths = [max(len(r[k]) for r in rows + [("layer", "output shape", "parameters")]) for k in range(3)]
        lines = [f"{'layer':<{widths[0]}}  {'output shape':<{widths[1]}}  {'parameters':>{widths[2]}}"]
        lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
        return "\n".join(lines)


def check_positive(module: Module, **sizes: int) -> tuple[int, ...]:
    """The ``sizes`` as ints, in order; raise naming ``module`` unless each is a positive integer (an int or a NumPy
    integer, not a bool)."""
    for what, n in sizes.items():
        if not is_integer(n) or n < 1:
            raise ValueError(f"{module!r}: {what} must be a positive int, got {n!r}")
    return tuple(int(n) for n in sizes.values())


def check_positive_number(module: Module, **values: float) -> tuple[float, ...]:
    """The ``values`` as floats, in order; raise naming ``module`` unless each is a finite number > 0 (an int, a
    float or a NumPy number, not a bool), as the spec schema requires of the same settings."""
    for what, v in values.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (math.isfinite(v) and v > 0):
            raise ValueError(f"{module!r}: {what} must be a finite number > 0, got {v!r}")
    return tuple(float(v) for v in values.values())


def check_flags(module: Module, **flags: bool) -> tuple[bool, ...]:
    """The ``flags`` as bools, in order; raise naming ``module`` unless each is True or False (or a NumPy bool): a
    string such as "false" would otherwise count as true."""
    for what, flag in flags.items():
        if not isinstance(flag, bool | np.bool_):
            raise TypeError(f"{module!r}: {what} must be True or False, got {flag!r}")
    return tuple(bool(flag) for flag in flags.values())


def check_features(module: Module, x: Node, expected: int) -> None:
    """Raise naming ``module`` unless the last dim of ``x`` is ``expected``."""
    got = x.shape[-1] if x.ndim else None
    if got != expected:
        raise ShapeError(f"{module!r} expects inputs with {expected} features (last dim), got shape {x.shape} "
                         f"with {got!r} features")
