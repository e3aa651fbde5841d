"""The training loop: a compiled step over reshuffled mini-batches, validation, learning-rate halving,
early stopping, input standardization and a per-epoch history.

Only the per-batch step is compiled (forward, backward and update in one kernel). Whole-set passes
(validation once per epoch, ``evaluate``, ``predict``) run through the NumPy reference evaluator, which
costs no compile; ``compile_predict`` makes a kernel for deployment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..compile import CompiledFunction
from ..compile import compile as compile_graph
from ..evaluate import evaluate
from ..ir import Node
from ..nn import Module, binary_cross_entropy, check_labels
from ..ops import constant
from .checks import TrainingInputError, check_finite, check_fraction, check_int, held_out_rows
from .history import INTERRUPTED, History, Monitor
from .interrupts import InterruptGuard
from .metrics import METRICS, check_metrics, default_metrics
from .optimizers import Optimizer
from .progress import Progress
from .streaming import StreamedData, evaluate_blocks, is_streamed

LossFunction = Callable[[Node, Node], Node]


class Trainer:
    """Trains ``model`` on ``loss(model(x), y) (+ regularizer)`` with ``optimizer``; calling it predicts.

    ``x`` and ``y`` are the input and target tensors (batch axis first, a named dim such as ``"batch"``);
    integer ``y`` are class labels. ``regularizer`` is a graph added to the loss (e.g. ``nn.l2(model, 1e-4)``).
    ``metrics`` are names from :data:`METRICS` (default: accuracy for labels, binary_accuracy for a binary
    cross-entropy model, mse otherwise), checked against the shapes of the outputs and targets. ``seed``
    fixes the starting parameters (unless ``values`` are given), the validation split, the batch order
    and the dropout masks. Creating a trainer compiles its training step.
    """

    def __init__(self, model: Module, x: Node, y: Node, loss: LossFunction, optimizer: Optimizer, *,
                 regularizer: Node | None = None, metrics: Sequence[str] | None = None, seed: int = 0,
                 values: Mapping[str, np.ndarray] | None = None, name: str = "train_step",
                 **compile_options: bool) -> None:
        self.model, self.x, self.y, self.optimizer, self.seed = model, x, y, optimizer, check_int("seed", seed, 0)
        self.binary = loss is binary_cross_entropy  # integer targets are 0/1, not class labels
        self.labels = y.dtype in ("int32", "int64") and not self.binary
        self.outputs = model(x)
        self.metrics = check_metrics(metrics if metrics is not None else default_metrics(self.labels, loss),
                                     self.outputs.shape, y.shape)
        penalty = (lambda value: value) if regularizer is None else (lambda value: value + regularizer)
        self.train_loss = penalty(loss(model(x, training=True), y))
        self.eval_loss = penalty(loss(self.outputs, y))
        self.step = optimizer.compile_step([x, y], self.train_loss, model, values=values, seed=self.seed, name=name,
                                           **compile_options)
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.history = History()
        self.spec_settings: dict | None = None  # set by Spec.compile: saved bundles can rebuild the model

    def __repr__(self) -> str:
        count = sum(v.size for v in self.params.values())
        return (f"<Trainer of {self.model!r}: {count:,} parameters, {self.optimizer!r}, lr {self.step.lr:g}, "
                f"metrics {self.metrics}, {self.history.epochs} epochs trained>")

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The live parameter arrays by name."""
        return self.step.params

    # -- data -------------------------------------------------------------------------------------------

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != self.x.ndim or any(isinstance(d, int) and d != g for d, g in zip(self.x.shape, shape)):
            raise ValueError(f"inputs: expected an array of shape {self.x.shape} for {self.x.name!r}, "
                             f"got shape {shape}")

    def _shaped(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=self.x.dtype)
        self._check_shape(X.shape)
        return X

    def _inputs(self, X: Any) -> np.ndarray:
        X = self._shaped(X)
        if self.mean is not None:  # statistics in float64; the result in the model's dtype
            X = ((X - self.mean) / self.scale).astype(self.x.dtype, copy=False)
        return np.ascontiguousarray(X)

    def _targets(self, Y: Any, rows: int) -> np.ndarray:
        classes = self._classes()
        if classes is not None:
            Y = check_labels(Y, classes, "targets")
        Y = np.ascontiguousarray(np.asarray(Y, dtype=self.y.dtype))
        if Y.ndim != self.y.ndim or len(Y) != rows or Y.shape[1:] != tuple(self.y.shape[1:]):
            raise ValueError(f"targets: expected {rows} rows of shape {self.y.shape[1:]} for {self.y.name!r} "
                             f"(tensor shape {self.y.shape}), got shape {Y.shape}")
        return Y

    def _checked(self, X: Any, Y: Any, prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
        """``(X, Y)`` as arrays after checking shapes, rows, finiteness and labels (names start with ``prefix``)."""
        X, Y = self._shaped(X), np.asarray(Y)
        if len(X) == 0:
            raise TrainingInputError(f"{prefix}X", f"{prefix}X has no rows")
        if Y.ndim == 0 or len(X) != len(Y):
            raise TrainingInputError(f"{prefix}Y", f"{prefix}X has {len(X)} rows but {prefix}Y has "
                                     f"{len(Y) if Y.ndim else 'none (a scalar)'}")
        check_finite(f"{prefix}X", X)
        check_finite(f"{prefix}Y", Y)
        self._targets(Y, len(X))
        return X, Y

    def fit_standardization(self, X: Any, how: bool | str = True) -> None:
        """Standardize future inputs with the column means and deviations of ``X`` (constant columns: scale 1), or
        with ``how="global"`` one mean and deviation over all its entries (pixels of images: a per-pixel scale
        would blow up the nearly constant border pixels). ``X`` may be a ``dask.array`` (one pass over it)."""
        if is_streamed(X):
            import dask

            self._set_standardization(dask.compute(*_moments(how)(X.astype(np.float64))), X.shape)
        else:
            self._set_standardization(_moments(how)(np.asarray(X, dtype=np.float64)), np.shape(X))

    def _set_standardization(self, moments: tuple[Any, Any], shape: tuple[int, ...]) -> None:
        mean, std = (np.broadcast_to(np.asarray(m, dtype=np.float64), shape[1:]).copy() for m in moments)
        self.mean, self.scale = mean, np.where(std > 0, std, 1.0)

    # -- inference ------------------------------------------------------------------------------------

    def _feed(self, X: Any, Y: Any | None = None) -> dict:
        feed = dict(self.params) | {self.x: self._inputs(X)}
        if Y is not None:
            feed[self.y] = self._targets(Y, len(feed[self.x]))
        return feed

    def save(self, path: str | Path) -> Path:
        """Write the trained model to the directory ``path`` (see :mod:`symdiff.train.bundle` for the format)."""
        from .bundle import save_bundle

        return save_bundle(self, path)

    def load_state(self, path: str | Path) -> None:
        """Continue from a saved bundle: parameters, optimizer state, learning rate, standardization, history, and the
        seed and dropout seeds' generator, so a later ``fit`` runs as the saved trainer's would."""
        from .bundle import load_state

        load_state(self, path)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities: softmax of the outputs for class labels, sigmoid for a binary cross-entropy model."""
        outputs = np.asarray(self.predict(X), dtype=np.float64)
        if self.binary:
            return 1.0 / (1.0 + np.exp(-outputs))
        if not self.labels:
            raise TypeError("predict_proba: this model predicts real values, not classes; use predict")
        shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """Model outputs (inference mode: no dropout) for inputs ``X``, standardized as in training."""
        return evaluate(self.outputs, self._feed(X))

    __call__ = predict

    def evaluate(self, X: Any, Y: Any) -> dict[str, float]:
        """``{"loss": ..., <metric>: ...}`` on ``X, Y`` in inference mode; ``X, Y`` may be ``dask.array`` s, read
        one block of rows at a time."""
        if is_streamed(X):
            return self._evaluate_data(self._streamed(X, Y))
        feed = self._feed(X, Y)
        loss, outputs = evaluate([self.eval_loss, self.outputs], feed)
        return {"loss": float(loss)} | {m: METRICS[m](outputs, feed[self.y]) for m in self.metrics}

    def _evaluate_data(self, data: tuple[np.ndarray, np.ndarray] | StreamedData) -> dict[str, float]:
        if not isinstance(data, StreamedData):
            return self.evaluate(*data)
        feed = (lambda x, y: dict(self.params) | {self.x: x, self.y: y})  # blocks come standardized
        outputs = (lambda x, y: evaluate([self.eval_loss, self.outputs], feed(x, y)))
        return evaluate_blocks(data, outputs, {m: METRICS[m] for m in self.metrics})

    def _streamed(self, X: Any, Y: Any, prefix: str = "") -> StreamedData:
        """``X, Y`` (dask arrays) read block by block, each block in the dtypes of the graph's tensors."""
        self._check_shape(X.shape)
        data = StreamedData(X, Y, prefix)
        if data.Y.shape[1:] != tuple(self.y.shape[1:]):
            raise TrainingInputError(f"{prefix}Y", f"{prefix}targets: expected rows of shape {self.y.shape[1:]} for "
                                     f"{self.y.name!r} (tensor shape {self.y.shape}), got shape {data.Y.shape}")
        data.prepare = lambda x, y: (self._inputs(x), self._targets(y, len(x)))
        return data

    def _classes(self) -> int | None:
        """How many classes the targets are labels of, if they are labels."""
        if self.labels or self.binary and self.y.dtype in ("int32", "int64"):
            return 2 if self.binary else self.outputs.shape[-1]
        return None

    def compile_predict(self, name: str = "predict", **compile_options: bool) -> CompiledFunction:
        """A kernel ``predict(x, *parameters) -> outputs`` for raw inputs: the standardization fitted in training
        (if any) is part of the kernel, as constants, so an exported model needs nothing else."""
        params = list(self.model.parameters.values())
        outputs = self.outputs
        if self.mean is not None:
            scaled = (self.x - constant(self.mean.astype(self.x.dtype))) / constant(self.scale.astype(self.x.dtype))
            outputs = self.model(scaled)
        return compile_graph([self.x, *params], outputs, name=name, **compile_options)

    # -- training -------------------------------------------------------------------------------------

    def fit(self, X: Any, Y: Any, *, epochs: int = 10, batch_size: int = 32, validation_split: float = 0.0,
            validation_data: tuple[Any, Any] | None = None, patience: int = 0, halve_lr: bool = True,
            lr_patience: int = 3, standardize: bool | str = True, restore_best: bool = True,
            progress: bool | None = None, plot: str | Path | None = None, scheduler: Any = None) -> History:
        """Train for up to ``epochs`` passes over ``X, Y`` in mini-batches of ``batch_size`` (reshuffled each
        epoch; the last batch may be smaller) and return the :class:`History`.

        ``validation_split`` holds out that fraction of the rows (or pass ``validation_data``). Each run starts
        at the step's learning rate (``trainer.step.lr``) and leaves it there: within the run it halves after
        ``lr_patience`` epochs without a new best monitored loss (validation, else training; ``halve_lr=False``
        keeps it). Training stops after ``patience`` epochs without
        a new best (0: never) and keeps the best parameters (``restore_best``). Ctrl-C stops it between batches
        with ``stop_reason == "interrupted"``, the best parameters so far kept (the starting ones if no epoch
        finished) and the history returned. ``standardize`` scales inputs with training-set statistics (per
        column, or ``"global"``: one mean and deviation for all columns, as for pixels).
        ``progress`` shows a bar (default: in a terminal or a notebook); ``plot`` saves the loss curves (the
        format its suffix names). ``scheduler`` (a ``distributed.Client``, an address or ``"local"``) computes each
        mini-batch's gradient on Dask workers, one chunk of the batch per worker, and applies the update here: the
        same steps as in one process, to rounding (see ``symdiff.train.distributed``; large batches pay off).
        ``X, Y`` may be ``dask.array`` s larger than memory (a chunk directory, a Zarr store: see
        :mod:`symdiff.train.chunks`): each epoch reads their row blocks in a random order and shuffles the rows
        within each block (see :mod:`symdiff.train.streaming`); pass ``validation_data`` instead of a split.
        Bad data or settings raise :class:`TrainingInputError` naming them, before any work.
        """
        epochs = check_int("epochs", epochs, 1)
        batch_size = check_int("batch_size", batch_size, 1)
        patience = check_int("patience", patience, 0)
        lr_patience = check_int("lr_patience", lr_patience, 1)
        validation_split = check_fraction("validation_split", validation_split)
        if standardize not in (True, False, "global"):
            raise TrainingInputError("standardize", f"standardize must be True, False or 'global', got {standardize!r}")
        rng = np.random.default_rng([self.seed, 1])
        if is_streamed(X):
            train, validation = self._streamed_data(X, Y, validation_data, validation_split, standardize)
        else:
            train, validation = self._data_in_memory(X, Y, validation_data, validation_split, standardize, rng)
        local_step, cluster = self.step, None
        if scheduler is not None:
            from .distributed import DataParallelStep, connect

            client, cluster = connect(scheduler)
            workers = len(client.scheduler_info()["workers"])
            self.step = DataParallelStep(local_step, self.train_loss, self.optimizer, workers)
        bar = Progress(epochs, progress)
        try:
            history = self._run(train, validation, rng, bar, epochs=epochs, batch_size=batch_size,
                                patience=patience, halve_lr=halve_lr, lr_patience=lr_patience,
                                restore_best=restore_best)
        finally:
            bar.close(self.history.stop_reason if self.history.epochs < epochs else "")
            self.step = local_step
            if cluster is not None:
                client.close()
                cluster.close()
        if plot is not None:
            history.plot(plot)
        return history

    def _data_in_memory(self, X: Any, Y: Any, validation_data: tuple[Any, Any] | None, validation_split: float,
                        standardize: bool | str, rng: np.random.Generator) -> tuple[tuple, tuple | None]:
        """The checked, standardized training arrays and the validation arrays of :meth:`fit`."""
        X_raw, Y_raw = self._checked(X, Y)
        if validation_data is not None:
            validation_data = self._checked(*validation_data, prefix="validation ")
        if validation_data is None and validation_split > 0:
            held = held_out_rows(len(X_raw), validation_split)
            order = rng.permutation(len(X_raw))
            validation_data = (X_raw[order[:held]], Y_raw[order[:held]])
            X_raw, Y_raw = X_raw[order[held:]], Y_raw[order[held:]]
        self.mean = self.scale = None
        if standardize:
            self.fit_standardization(X_raw, standardize)
        X_train = self._inputs(X_raw)
        return (X_train, self._targets(Y_raw, len(X_train))), validation_data

    def _streamed_data(self, X: Any, Y: Any, validation_data: tuple[Any, Any] | None, validation_split: float,
                       standardize: bool | str) -> tuple[StreamedData, Any]:
        """:meth:`fit`'s data when ``X`` is a dask array: checked (and its statistics measured) in one pass."""
        if validation_split > 0:
            raise TrainingInputError("validation_split", "validation_split needs the data in memory: for a dask "
                                     "array, pass validation_data (arrays in memory, or dask arrays)")
        train = self._streamed(X, Y)
        if validation_data is not None:
            if is_streamed(validation_data[0]):
                validation_data = self._streamed(*validation_data, prefix="validation ")
                validation_data.survey(self._classes(), None)
            else:
                validation_data = self._checked(*validation_data, prefix="validation ")
        self.mean = self.scale = None
        moments = train.survey(self._classes(), _moments(standardize) if standardize else None)
        if standardize:
            self._set_standardization(moments, X.shape)
        train.shuffle = np.random.default_rng([self.seed, 3])  # block order: apart from the rows' generator
        return train, validation_data

    def _run(self, train: tuple[np.ndarray, np.ndarray] | StreamedData,
             validation: tuple[np.ndarray, np.ndarray] | StreamedData | None, rng: np.random.Generator,
             bar: Progress, *, epochs: int, batch_size: int, patience: int, halve_lr: bool, lr_patience: int,
             restore_best: bool) -> History:
        """The epochs of :meth:`fit` on checked, standardized data."""
        self.history = history = History()
        monitor = Monitor(patience=patience, halve_lr=halve_lr, lr_patience=lr_patience)
        kept = (0, self._snapshot())  # (epoch, its parameters): one assignment, so an interrupt never splits them
        start_lr, start = self.step.lr, time.perf_counter()
        try:
            with InterruptGuard() as guard:
                for epoch in range(1, epochs + 1):
                    train_loss = self._epoch(train, batch_size, rng, guard)
                    record = {"loss": train_loss}
                    if validation is not None:
                        record |= {f"val_{k}": v for k, v in self._evaluate_data(validation).items()}
                    record |= {"lr": self.step.lr, "seconds": time.perf_counter() - start}
                    history.record(**record)
                    bar.update(epoch, {k: v for k, v in record.items() if k != "seconds"})
                    watched = record.get("val_loss", train_loss)
                    if not np.isfinite(watched):
                        history.stop_reason = (f"the loss became {watched} at epoch {epoch}; try a smaller learning "
                                               f"rate (it was {self.step.lr:g})")
                        break
                    improved, halve, stop = monitor.update(watched)
                    if improved:
                        kept = (epoch, self._snapshot())
                    if guard.requested:
                        history.stop_reason = INTERRUPTED
                        break
                    if halve:
                        self.step.lr *= 0.5
                    if stop:
                        history.stop_reason = f"early stop: no improvement for {patience} epochs"
                        break
                else:
                    history.stop_reason = f"finished {epochs} epochs"
        except KeyboardInterrupt:
            history.stop_reason = INTERRUPTED
        finally:
            self.step.lr = start_lr
        history.best_epoch = kept[0]
        if restore_best:
            self.step.set_params(kept[1])
        return history

    def _snapshot(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.params.items()}

    def _epoch(self, data: tuple[np.ndarray, np.ndarray] | StreamedData, batch_size: int, rng: np.random.Generator,
               guard: InterruptGuard) -> float:
        """One pass in a fresh random order (streamed data: the blocks in a random order, the rows of each block in
        a random order); the mean training loss over the examples. Stops between batches (KeyboardInterrupt) once
        Ctrl-C was pressed."""
        parts = data.blocks(data.shuffle.permutation(data.count)) if isinstance(data, StreamedData) else [data]
        total, rows = 0.0, 0
        for X, Y in parts:
            order = rng.permutation(len(X))
            for begin in range(0, len(X), batch_size):
                if guard.requested:
                    raise KeyboardInterrupt
                picked = order[begin:begin + batch_size]
                total += float(self.step(X[picked], Y[picked])) * len(picked)
            rows += len(X)
        return total / rows


def _moments(how: bool | str) -> Callable[[Any], tuple[Any, Any]]:
    """The mean and deviation that standardization with ``how`` uses, of a NumPy or dask array."""
    axis = None if how == "global" else 0
    return lambda X: (X.mean(axis=axis), X.std(axis=axis))
