"""Layer rules for specs: each layer type's keys and how it is built from the width of its input.

A rule's builder gets the validated keys, the layer name and the input width, and returns the module
and its output width, so widths chain from ``inputs`` through the layers.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import nn
from .schema import BOOLEAN, FRACTION, IDENTIFIER, POSITIVE, POSITIVE_INT, REQUIRED, TEXT, Field, Kind, SpecError, join
from .settings import count_parameters


def _is_initializer(value: Any) -> bool:
    try:
        return isinstance(value, str) and nn.get_initializer(value) is not None
    except ValueError:
        return False


INITIALIZER = Kind("an initializer name such as 'glorot_uniform', 'he_normal' or 'zeros'", _is_initializer)


@dataclass(frozen=True)
class LayerRule:
    """A layer type: its keys and ``build(keys, name, width, activation) -> (module, output width)``."""

    fields: Mapping[str, Field]
    build: Callable[[dict[str, Any], str, int, Callable], tuple[nn.Module, int]]


def _dense(keys, name, width, activation):
    layer = nn.Dense(width, keys["units"], activation(keys["activation"]), bias=keys["bias"], init=keys["init"],
                     dtype=keys["dtype"], name=name)
    return layer, keys["units"]


def _maxout(keys, name, width, activation):
    return nn.Maxout(width, keys["units"], keys["pieces"], init=keys["init"], dtype=keys["dtype"], name=name), \
        keys["units"]


def _rbf(keys, name, width, activation):
    if keys["dtype"] != "float64":
        raise ValueError(f"rbf layers are float64 only; the spec's dtype is {keys['dtype']}")
    return nn.RBF(width, keys["centers"], keys["units"], beta=keys["beta"], name=name), keys["units"]


#: Keys every layer may have besides its own: its type, a name, and the input width it expects.
COMMON = {"type": Field(TEXT, REQUIRED), "name": Field(IDENTIFIER), "inputs": Field(POSITIVE_INT)}

LAYERS: dict[str, LayerRule] = {
    "dense": LayerRule(
        {"units": Field(POSITIVE_INT, REQUIRED), "activation": Field(TEXT, "identity"), "bias": Field(BOOLEAN, True),
         "init": Field(INITIALIZER, "glorot_uniform")}, _dense),
    "dropout": LayerRule({"rate": Field(FRACTION, REQUIRED)},
                         lambda keys, name, width, act: (nn.Dropout(keys["rate"], name=name), width)),
    "activation": LayerRule({"function": Field(TEXT, REQUIRED)},
                            lambda keys, name, width, act: (nn.Activation(act(keys["function"]), name=name), width)),
    "prelu": LayerRule({"alpha": Field(POSITIVE, 0.25)},
                       lambda keys, name, width, act: (nn.PReLU(width, alpha=keys["alpha"], dtype=keys["dtype"],
                                                                        name=name), width)),
    "maxout": LayerRule({"units": Field(POSITIVE_INT, REQUIRED), "pieces": Field(POSITIVE_INT, REQUIRED),
                         "init": Field(INITIALIZER, "glorot_uniform")}, _maxout),
    "rbf": LayerRule({"centers": Field(POSITIVE_INT, REQUIRED), "units": Field(POSITIVE_INT, REQUIRED),
                      "beta": Field(POSITIVE, 1.0)}, _rbf),
}

#: The key of each layer type holding an activation (checked against the known activations).
ACTIVATION_KEYS = {"dense": "activation", "activation": "function"}


def activation_resolver(source: str, path: str) -> Callable[[str], Callable]:
    """Looks up an activation by name, or makes one from an expression in ``x`` such as ``"x*sigmoid(x)"``."""

    def resolve(text: str) -> Callable:
        if text in nn.ACTIVATIONS:
            return nn.get_activation(text)
        if text.isidentifier():
            raise SpecError(source, path, f"unknown activation {text!r}; expected one of "
                            f"{', '.join(sorted(nn.ACTIVATIONS))}, a name from [activations], or an expression "
                            "in x such as \"x*sigmoid(x)\"")
        # An inline expression is named by its text, so the same expression is one module everywhere.
        name = f"expr_{zlib.crc32(text.encode()):08x}"
        try:
            return nn.elementwise(name, text)
        except (ValueError, TypeError) as exc:
            raise SpecError(source, path, f"bad activation expression: {exc}") from None

    return resolve


def build_layers(layers: list[dict[str, Any]], width: int, prefix: str, source: str,
                 dtype: str = "float64") -> tuple[list[nn.Module], int]:
    """The modules for validated layer tables, starting from ``width`` input features, with parameters of
    ``dtype``; and the final width."""
    modules, counts, parameters = [], {}, 0
    for index, keys in enumerate(layers):
        path = f"layers[{index}]"
        kind = keys["type"]
        counts[kind] = counts.get(kind, 0) + 1
        if "inputs" in keys and keys["inputs"] != width:
            raise SpecError(source, join(path, "inputs"), f"expected {width} (the output width of "
                            f"{'the inputs' if index == 0 else f'layers[{index - 1}]'}), got {keys['inputs']}")
        name = keys.get("name", f"{prefix}_{kind}{counts[kind]}")
        resolve = activation_resolver(source, join(path, ACTIVATION_KEYS.get(kind, "type")))
        try:
            module, width = LAYERS[kind].build(dict(keys, dtype=dtype), name, width, resolve)
        except SpecError:
            raise
        except (ValueError, TypeError) as exc:
            raise SpecError(source, path, str(exc)) from None
        parameters = count_parameters(module, parameters, source, join(path, "units") if "units" in keys else path)
        modules.append(module)
    return modules, width
