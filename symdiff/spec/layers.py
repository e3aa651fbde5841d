"""Layer rules for specs: each layer type's keys and how it is built from the width of its input.

A rule's builder gets the validated keys, the layer name and the input width, and returns the module
and its output width, so widths chain from ``inputs`` through the layers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from .. import nn
from ..ops import tensor
from .schema import (
    BOOLEAN,
    FRACTION,
    IDENTIFIER,
    POSITIVE,
    POSITIVE_INT,
    REQUIRED,
    TEXT,
    Field,
    Kind,
    SpecError,
    join,
    one_of,
)
from .settings import count_parameters


def _is_initializer(value: Any) -> bool:
    try:
        return isinstance(value, str) and nn.get_initializer(value) is not None
    except ValueError:
        return False


INITIALIZER = Kind("an initializer name such as 'glorot_uniform', 'he_normal' or 'zeros'", _is_initializer)


@dataclass(frozen=True)
class LayerRule:
    """A layer type: its keys and ``build(keys, name, shape, activation) -> module`` (``shape``: the features of
    one example, as the previous layer gives them)."""

    fields: Mapping[str, Field]
    build: Callable[[dict[str, Any], str, tuple[int, ...], Callable], nn.Module]


def _needs(shape: tuple[int, ...], rank: int, layout: str) -> None:
    if len(shape) != rank:
        raise ValueError(f"this layer takes examples of shape ({layout}), the previous layer gives {shape}; add a "
                         f"reshape layer (e.g. shape = [{', '.join(['...'] * rank)}]) before it")


def _conv(keys, name, shape, activation, *, module=nn.Conv2D, rank=3, layout="height, width, channels"):
    _needs(shape, rank, layout)
    return module(shape[-1], keys["filters"], keys["kernel"], stride=keys["stride"], padding=keys["padding"],
                  activation=activation(keys["activation"]), bias=keys["bias"], init=keys["init"],
                  dtype=keys["dtype"], name=name)


def _pool(keys, name, shape, activation, *, module=nn.MaxPool2D):
    _needs(shape, 3, "height, width, channels")
    return module(keys["window"], keys.get("stride"), name=name)


def _pool1d(keys, name, shape, activation, *, module=nn.MaxPool1D):
    _needs(shape, 2, "length, channels")
    return module(keys["window"], keys.get("stride"), name=name)


def _recurrent(keys, name, shape, activation, *, module=nn.LSTM):
    _needs(shape, 2, "steps, features")
    extra = {"activation": activation(keys["activation"])} if module is nn.SimpleRNN else {}
    return module(shape[-1], keys["units"], return_sequences=keys["return_sequences"], dtype=keys["dtype"],
                  name=name, **extra)


def _rbf(keys, name, shape, activation):
    if keys["dtype"] != "float64":
        raise ValueError(f"rbf layers are float64 only; the spec's dtype is {keys['dtype']}")
    return nn.RBF(shape[-1], keys["centers"], keys["units"], beta=keys["beta"], name=name)


#: Keys every layer may have besides its own: its type, a name, and the input width it expects.
COMMON = {"type": Field(TEXT, REQUIRED), "name": Field(IDENTIFIER), "inputs": Field(POSITIVE_INT)}
SHAPE = Kind("a non-empty list of positive integers", lambda v: isinstance(v, list) and len(v) > 0
             and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in v))
MOMENTUM = Kind("a number in (0, 1]", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1)
_CONV = {"filters": Field(POSITIVE_INT, REQUIRED), "kernel": Field(POSITIVE_INT, REQUIRED),
         "stride": Field(POSITIVE_INT, 1), "padding": Field(one_of(("valid", "same")), "valid"),
         "activation": Field(TEXT, "identity"), "bias": Field(BOOLEAN, True), "init": Field(INITIALIZER, "he_uniform")}
_POOL = {"window": Field(POSITIVE_INT, 2), "stride": Field(POSITIVE_INT)}
_RECURRENT = {"units": Field(POSITIVE_INT, REQUIRED), "return_sequences": Field(BOOLEAN, False)}

LAYERS: dict[str, LayerRule] = {
    "dense": LayerRule(
        {"units": Field(POSITIVE_INT, REQUIRED), "activation": Field(TEXT, "identity"), "bias": Field(BOOLEAN, True),
         "init": Field(INITIALIZER, "glorot_uniform")},
        lambda keys, name, shape, act: nn.Dense(shape[-1], keys["units"], act(keys["activation"]), bias=keys["bias"],
                                                init=keys["init"], dtype=keys["dtype"], name=name)),
    "dropout": LayerRule({"rate": Field(FRACTION, REQUIRED)},
                         lambda keys, name, shape, act: nn.Dropout(keys["rate"], name=name)),
    "activation": LayerRule({"function": Field(TEXT, REQUIRED)},
                            lambda keys, name, shape, act: nn.Activation(act(keys["function"]), name=name)),
    "prelu": LayerRule({"alpha": Field(POSITIVE, 0.25)},
                       lambda keys, name, shape, act: nn.PReLU(shape[-1], alpha=keys["alpha"], dtype=keys["dtype"],
                                                               name=name)),
    "maxout": LayerRule({"units": Field(POSITIVE_INT, REQUIRED), "pieces": Field(POSITIVE_INT, REQUIRED),
                         "init": Field(INITIALIZER, "glorot_uniform")},
                        lambda keys, name, shape, act: nn.Maxout(shape[-1], keys["units"], keys["pieces"],
                                                                 init=keys["init"], dtype=keys["dtype"], name=name)),
    "rbf": LayerRule({"centers": Field(POSITIVE_INT, REQUIRED), "units": Field(POSITIVE_INT, REQUIRED),
                      "beta": Field(POSITIVE, 1.0)}, _rbf),
    "reshape": LayerRule({"shape": Field(SHAPE, REQUIRED)},
                         lambda keys, name, shape, act: nn.Reshape(tuple(keys["shape"]), name=name)),
    "flatten": LayerRule({}, lambda keys, name, shape, act: nn.Flatten(name=name)),
    "conv2d": LayerRule(_CONV, _conv),
    "conv1d": LayerRule(_CONV, partial(_conv, module=nn.Conv1D, rank=2, layout="length, channels")),
    "maxpool2d": LayerRule(_POOL, _pool),
    "avgpool2d": LayerRule(_POOL, partial(_pool, module=nn.AvgPool2D)),
    "maxpool1d": LayerRule(_POOL, _pool1d),
    "avgpool1d": LayerRule(_POOL, partial(_pool1d, module=nn.AvgPool1D)),
    "globalavgpool2d": LayerRule({}, lambda keys, name, shape, act: (
        _needs(shape, 3, "height, width, channels"), nn.GlobalAvgPool2D(name=name))[1]),
    "batchnorm": LayerRule({"momentum": Field(MOMENTUM, 0.1), "eps": Field(POSITIVE, 1e-5)},
                           lambda keys, name, shape, act: nn.BatchNorm(shape[-1], momentum=keys["momentum"],
                                                                       eps=keys["eps"], dtype=keys["dtype"],
                                                                       name=name)),
    "layernorm": LayerRule({"eps": Field(POSITIVE, 1e-5)},
                           lambda keys, name, shape, act: nn.LayerNorm(shape[-1], eps=keys["eps"],
                                                                       dtype=keys["dtype"], name=name)),
    "simplernn": LayerRule({**_RECURRENT, "activation": Field(TEXT, "tanh")},
                           partial(_recurrent, module=nn.SimpleRNN)),
    "lstm": LayerRule(_RECURRENT, _recurrent),
    "gru": LayerRule(_RECURRENT, partial(_recurrent, module=nn.GRU)),
}

#: The key of each layer type holding an activation (checked against the known activations).
ACTIVATION_KEYS = {"dense": "activation", "activation": "function", "conv2d": "activation",
                   "conv1d": "activation", "simplernn": "activation"}


def activation_resolver(source: str, path: str) -> Callable[[str], Callable]:
    """Looks up an activation by name, or makes one from an expression in ``x`` such as ``"x*sigmoid(x)"``."""

    def resolve(text: str) -> Callable:
        if text in nn.ACTIVATIONS:
            return nn.get_activation(text)
        if text.isidentifier():
            raise SpecError(source, path, f"unknown activation {text!r}; expected one of "
                            f"{', '.join(sorted(nn.ACTIVATIONS))}, a name from [activations], or an expression "
                            "in x such as \"x*sigmoid(x)\"")
        # An inline expression is named by its text, so the same expression is one module everywhere (in every
        # process); 128 bits of SHA-256, so two different texts never share a name (CRC32's were easy to collide).
        name = f"expr_{hashlib.sha256(text.encode()).hexdigest()[:32]}"
        try:
            return nn.elementwise(name, text)
        except (ValueError, TypeError) as exc:
            raise SpecError(source, path, f"bad activation expression: {exc}") from None

    return resolve


def build_layers(layers: list[dict[str, Any]], width: int, prefix: str, source: str,
                 dtype: str = "float64") -> tuple[list[nn.Module], int]:
    """The modules for validated layer tables, starting from ``width`` input features, with parameters of
    ``dtype``; and the final width. Reshape layers give examples more axes (images, sequences) on the way; the
    last layer must give one axis."""
    modules, counts, parameters = [], {}, 0
    shape: tuple[int, ...] = (width,)
    for index, keys in enumerate(layers):
        path = f"layers[{index}]"
        kind = keys["type"]
        counts[kind] = counts.get(kind, 0) + 1
        previous = "the inputs" if index == 0 else f"layers[{index - 1}]"
        if "inputs" in keys and keys["inputs"] != shape[-1]:
            raise SpecError(source, join(path, "inputs"), f"expected {shape[-1]} (the output width of {previous}), "
                            f"got {keys['inputs']}")
        name = keys.get("name", f"{prefix}_{kind}{counts[kind]}")
        resolve = activation_resolver(source, join(path, ACTIVATION_KEYS.get(kind, "type")))
        try:
            module = LAYERS[kind].build(dict(keys, dtype=dtype), name, shape, resolve)
            shape = tuple(module(tensor("x", ("batch",) + shape, dtype)).shape[1:])  # what this layer gives
        except SpecError:
            raise
        except (ValueError, TypeError) as exc:
            raise SpecError(source, path, f"{exc} (examples reaching it have shape {shape})") from None
        parameters = count_parameters(module, parameters, source, join(path, "units") if "units" in keys else path)
        modules.append(module)
    if len(shape) != 1:
        raise SpecError(source, f"layers[{len(layers) - 1}]", f"the last layer gives examples of shape {shape}; the "
                        "model must end with one axis (add a flatten layer, or return_sequences = false)")
    return modules, shape[0]
