"""A validated spec and what it builds: the model, its loss, the optimizer and the training settings."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np

from .. import nn
from ..ir import Node
from ..ops import tensor
from ..train import Dataset, Optimizer, Trainer, get_optimizer
from ..train.history import History
from ..train.metrics import default_metrics, kind_problem, model_kind
from ..train.optimizers import HyperparameterError
from .layers import COMMON, LAYERS, build_layers
from .schema import (
    IDENTIFIER,
    POSITIVE_INT,
    REQUIRED,
    TABLE,
    TABLE_LIST,
    Field,
    Kind,
    SpecError,
    check,
    join,
    one_of,
    validate,
)
from .settings import (
    ACTIVATION_EXPRESSION,
    LOSS_TYPE,
    LOSSES,
    OPTIMIZER_FIELDS,
    OPTIMIZER_TYPE,
    REGULARIZER_TYPE,
    REGULARIZERS,
    TRAINING,
)

LOSS_ENTRY = Kind("a loss name or a table with a type", lambda v: isinstance(v, str | Mapping))

TOP: dict[str, Field] = {
    "name": Field(IDENTIFIER, "model"),
    "inputs": Field(POSITIVE_INT, REQUIRED),
    "dtype": Field(one_of(["float64", "float32"]), "float64"),
    "activations": Field(TABLE),
    "layers": Field(TABLE_LIST, REQUIRED),
    "loss": Field(LOSS_ENTRY, REQUIRED),
    "regularizer": Field(TABLE),
    "optimizer": Field(TABLE, {"type": "adam"}),
    "training": Field(TABLE, {}),
}


def _typed(table: Any, type_field: Field, rules: Mapping[str, Mapping[str, Field]], source: str,
           path: str) -> dict[str, Any]:
    """Validate a table whose ``type`` key selects the rest of its keys."""
    if not isinstance(table, Mapping):
        raise SpecError(source, path, f"expected a table, got {table!r}")
    kind = validate({"type": table["type"]} if "type" in table else {}, {"type": type_field}, source, path)["type"]
    return validate(table, {"type": type_field} | dict(rules[kind]), source, path)


def normalize(data: Any, source: str) -> dict[str, Any]:
    """The spec with every key checked and defaults filled in (raises :class:`SpecError`)."""
    top = validate(data, TOP, source, "")
    if "activations" in top:
        for name, expr in top["activations"].items():
            check(name, IDENTIFIER, source, join("activations", str(name)))
            check(expr, ACTIVATION_EXPRESSION.kind, source, join("activations", name))
    layer_type = Field(one_of(tuple(LAYERS)), REQUIRED)
    rules = {kind: COMMON | rule.fields for kind, rule in LAYERS.items()}
    top["layers"] = [_typed(layer, layer_type, rules, source, f"layers[{i}]") for i, layer in enumerate(top["layers"])]
    loss = {"type": top["loss"]} if isinstance(top["loss"], str) else top["loss"]
    top["loss"] = _typed(loss, LOSS_TYPE, {k: r.fields for k, r in LOSSES.items()}, source, "loss")
    if "regularizer" in top:
        top["regularizer"] = _typed(top["regularizer"], REGULARIZER_TYPE, {k: r[1] for k, r in REGULARIZERS.items()},
                                    source, "regularizer")
    top["optimizer"] = _typed(top["optimizer"], OPTIMIZER_TYPE, OPTIMIZER_FIELDS, source, "optimizer")
    top["training"] = validate(top["training"], TRAINING, source, "training")
    return top


class Spec:
    """A model described by a spec: ``model`` (an ``nn.Sequential``), input ``x`` ("batch", inputs), target ``y``
    (labels or values, as the loss wants), ``optimizer``, ``training`` settings and ``settings`` (the whole
    spec with defaults, which writes back to an equivalent file). ``compile()`` gives a :class:`Trainer`,
    a callable model that trains with ``spec.fit(trainer, X, Y)``.
    """

    def __init__(self, data: Any, source: str = "<dict>") -> None:
        self.source = source
        self.settings = normalize(data, source)
        top = self.settings
        self.name: str = top["name"]
        for name, expr in top.get("activations", {}).items():
            try:
                nn.elementwise(name, expr)
            except (ValueError, TypeError) as exc:
                raise SpecError(source, join("activations", name), str(exc)) from None
        self.dtype: str = top["dtype"]
        self.x = tensor("x", ("batch", top["inputs"]), self.dtype)
        try:
            modules, self.outputs = build_layers(top["layers"], top["inputs"], self.name, source, self.dtype)
            self.model = nn.Sequential(modules, name=self.name)
            self.model.parameters  # noqa: B018 - raises now if two layers claim one parameter name
        except SpecError:
            raise
        except ValueError as exc:
            raise SpecError(source, "name", f"{exc}; give the spec (or the layers) another name") from None
        loss = dict(top["loss"])
        self.loss_rule = LOSSES[loss.pop("type")]
        if self.loss_rule.labels and self.outputs < 2:
            raise SpecError(source, "loss", f"{top['loss']['type']} needs at least 2 outputs (one per class); the last "
                            f"layer gives {self.outputs}")
        self.loss_fn = partial(self.loss_rule.build, **loss)
        self.y = tensor("y", ("batch",), "int64") if self.loss_rule.labels else \
            tensor("y", ("batch", self.outputs), self.dtype)
        self.regularizer = self._regularizer()
        self.optimizer = self._optimizer()
        self.training = dict(top["training"])
        self.metrics = self.training.get("metrics", default_metrics(self.loss_rule.labels, self.loss_rule.build))
        kind = model_kind(self.loss_rule.labels, self.loss_rule.build)
        for metric in self.metrics:
            problem = kind_problem(metric, kind, top["loss"]["type"])
            if problem is not None:
                raise SpecError(source, "training.metrics", problem)

    def _regularizer(self) -> Node | None:
        if "regularizer" not in self.settings:
            return None
        options = dict(self.settings["regularizer"])
        return REGULARIZERS[options.pop("type")][0](self.model, **options)

    def _optimizer(self) -> Optimizer:
        options = dict(self.settings["optimizer"])
        try:
            return get_optimizer(options.pop("type"), options)
        except HyperparameterError as exc:
            raise SpecError(self.source, join("optimizer", exc.name), str(exc)) from None

    def loss(self, training: bool = False) -> Node:
        """The loss graph (plus the regularizer); ``training=True`` builds it with dropout active."""
        value = self.loss_fn(self.model(self.x, training=training), self.y)
        return value if self.regularizer is None else value + self.regularizer

    def to_dict(self) -> dict[str, Any]:
        """The spec with defaults filled in (a copy)."""
        return copy.deepcopy(self.settings)

    def compile(self, *, seed: int | None = None, **compile_options: bool) -> Trainer:
        """A :class:`Trainer` for this model (compiles the training step); ``seed`` defaults to ``training.seed``.
        The trainer's ``spec_settings`` (``spec.json`` in a saved bundle) hold the seed it was compiled with."""
        trainer = Trainer(self.model, self.x, self.y, self.loss_fn, self.optimizer, regularizer=self.regularizer,
                          metrics=self.metrics, seed=self.training["seed"] if seed is None else seed,
                          **compile_options)
        trainer.spec_settings = self.to_dict()
        trainer.spec_settings["training"]["seed"] = trainer.seed
        return trainer

    def fit(self, trainer: Trainer, X: Any, Y: Any, **overrides: Any) -> History:
        """``trainer.fit`` with this spec's training settings (keywords override them)."""
        keys = ("epochs", "batch_size", "validation_split", "patience", "halve_lr", "lr_patience", "standardize",
                "restore_best")
        return trainer.fit(X, Y, **({k: self.training[k] for k in keys} | overrides))

    def data_arrays(self, data: Dataset, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(X, targets)`` from one part of ``data``, shaped for the loss (one-hot or a column for value losses)."""
        if data.features != self.settings["inputs"]:
            raise SpecError(self.source, "inputs", f"the data set {data.name!r} has {data.features} features per "
                            f"example, the spec says {self.settings['inputs']}")
        if self.loss_rule.labels or data.classes is None:
            if (data.classes is None) == self.loss_rule.labels or data.outputs != self.outputs:
                what = f"{data.classes} classes" if data.classes is not None else f"{data.outputs} real-valued targets"
                raise SpecError(self.source, "layers", f"the data set {data.name!r} has {what}; the model gives "
                                f"{self.outputs} outputs for a {self.settings['loss']['type']} loss")
            return X, y
        if self.outputs == data.classes:  # one-hot rows; a comparison, so dask targets stay lazy
            return X, (y[:, None] == np.arange(data.classes)).astype(np.float64)
        if self.outputs == 1 and data.classes == 2:
            return X, y[:, None].astype(self.dtype)
        raise SpecError(self.source, "layers", f"the data set {data.name!r} has {data.classes} classes; a "
                        f"{self.settings['loss']['type']} loss needs {data.classes} outputs (or 1 for two classes), "
                        f"the model gives {self.outputs}")

    def __repr__(self) -> str:
        return f"<Spec {self.name!r} from {self.source}: {len(self.settings['layers'])} layers, {self.outputs} outputs>"
