"""Spec rules besides layers: losses, regularizers, optimizers and training settings, as tables."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .. import nn
from ..train import METRICS, OPTIMIZERS, Optimizer
from .schema import (
    BOOLEAN,
    COUNT,
    FRACTION,
    NONNEGATIVE,
    NUMBER,
    POSITIVE,
    POSITIVE_INT,
    REQUIRED,
    TEXT,
    Field,
    Kind,
    SpecError,
    list_of,
    one_of,
)

#: At most this many parameters in a spec's model (8 bytes each in float64; the optimizer's state adds up to two
#: more copies): a mistyped width is refused before anything is allocated. Build bigger models in Python.
MAX_PARAMETERS = 10**8


def count_parameters(module: nn.Module, before: int, source: str, path: str) -> int:
    """``before`` plus the parameters of the layer ``module`` (at ``path``), or a :class:`SpecError` naming the
    layer when the model would exceed :data:`MAX_PARAMETERS`."""
    own = sum(math.prod(node.shape) for node in module.parameters.values())
    if before + own > MAX_PARAMETERS:
        raise SpecError(source, path, f"this layer has {own:,} parameters, {before + own:,} in the model so far; a "
                        f"spec may describe at most {MAX_PARAMETERS:,} (is a width mistyped?)")
    return before + own


@dataclass(frozen=True)
class LossRule:
    """A loss: ``build(outputs, targets, **options)``, whether its targets are class labels, its options."""

    build: Callable
    labels: bool
    fields: Mapping[str, Field]


LOSSES: dict[str, LossRule] = {
    "softmax_cross_entropy": LossRule(nn.softmax_cross_entropy, True, {}),
    "sparsemax_loss": LossRule(nn.sparsemax_loss, True, {}),
    "multiclass_hinge": LossRule(nn.multiclass_hinge, True, {"margin": Field(POSITIVE, 1.0)}),
    "binary_cross_entropy": LossRule(nn.binary_cross_entropy, False, {}),
    "squared_error": LossRule(nn.squared_error, False, {}),
}

#: Regularizers: the nn function (called with the model and the options) and its options.
REGULARIZERS: dict[str, tuple[Callable, Mapping[str, Field]]] = {
    "l2": (nn.l2, {"scale": Field(NONNEGATIVE, REQUIRED)}),
    "l1": (nn.l1, {"scale": Field(NONNEGATIVE, REQUIRED)}),
    "elastic_net": (nn.elastic_net, {"l1_scale": Field(NONNEGATIVE, REQUIRED),
                                     "l2_scale": Field(NONNEGATIVE, REQUIRED)}),
}


def optimizer_fields(cls: type[Optimizer]) -> dict[str, Field]:
    """An optimizer's keys, read from its constructor: booleans stay booleans, other settings are numbers."""
    fields = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if param.default is inspect.Parameter.empty:
            continue
        kind = BOOLEAN if isinstance(param.default, bool) else POSITIVE if name == "lr" else NUMBER
        fields[name] = Field(kind, param.default)
    return fields


OPTIMIZER_FIELDS = {name: optimizer_fields(cls) for name, cls in OPTIMIZERS.items()}

TRAINING: dict[str, Field] = {
    "epochs": Field(POSITIVE_INT, 20),
    "batch_size": Field(POSITIVE_INT, 32),
    "validation_split": Field(FRACTION, 0.1),
    "patience": Field(COUNT, 0),
    "halve_lr": Field(BOOLEAN, True),
    "lr_patience": Field(POSITIVE_INT, 3),
    "standardize": Field(Kind("true, false or \"global\"", lambda v: isinstance(v, bool) or v == "global"), True),
    "restore_best": Field(BOOLEAN, True),
    "seed": Field(COUNT, 0),
    "data": Field(TEXT),  # a built-in data set's name or a file (checked when the data is loaded)
    "metrics": Field(list_of(tuple(METRICS))),
}

#: The ``type`` key of the loss, regularizer and optimizer tables.
LOSS_TYPE = Field(one_of(tuple(LOSSES)), REQUIRED)
REGULARIZER_TYPE = Field(one_of(tuple(REGULARIZERS)), REQUIRED)
OPTIMIZER_TYPE = Field(one_of(tuple(OPTIMIZERS)), REQUIRED)
ACTIVATION_EXPRESSION = Field(TEXT, REQUIRED)
