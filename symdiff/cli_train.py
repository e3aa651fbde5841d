"""The training job behind ``symdiff train`` and ``symdiff demo``: load the data (built in, a file, or a chunk
directory read block by block), compile the spec's step, fit, evaluate on the test rows; and the errors the command
reports (usage: exit 2, interrupted: exit 130)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # symdiff.train loads lazily: ``symdiff --help`` stays fast
    from .spec import Spec
    from .train import Dataset, History, Trainer, TrainingInputError


class UsageError(Exception):
    """A command-line mistake outside the spec (exit code 2)."""


class TrainingInterruptedError(Exception):
    """Training stopped by Ctrl-C; the message says what was kept (exit code 130)."""


def say(message: str) -> None:
    """Print a progress line now (flushed: the user watches a long job)."""
    print(message, flush=True)


def timed(message: str, action: Callable[[], Any]) -> tuple[Any, float]:
    """``(action(), seconds it took)``, after saying ``message`` (if any)."""
    if message:
        say(message)
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def compile_spec(spec: Spec, seed: int | None = None) -> Trainer:
    """The spec's trainer, saying how long its step took to compile (or load from the kernel cache)."""
    trainer, seconds = timed("compiling the training step (forward, backward and "
                             f"{type(spec.optimizer).__name__} update in one kernel)...",
                             lambda: spec.compile(seed=seed))
    if trainer.step.fn.from_cache:
        say(f"  loaded from the kernel cache in {seconds:.1f} s")
    else:
        say(f"  compiled in {seconds:.1f} s (cached on disk for next time)")
    return trainer


def dataset(spec: Spec, name: str | None, target: str | None = None) -> Dataset:
    """A built-in data set by name, or the user's file (--data, or training.data relative to the spec file)."""
    from .cli_data import DataFileError, load_data_file
    from .train import DATASETS, load_dataset

    given = name
    name = name or spec.training.get("data")
    if name is None:
        raise UsageError(f"no data: pass --data NAME ({', '.join(DATASETS)}) or a file (.csv, .npz, X.npy,y.npy), "
                         f"or set training.data in {spec.source}")
    if name in DATASETS:
        return load_dataset(name)
    if given is None and spec.source != "<dict>":  # a path in the spec is relative to the spec file
        name = ",".join(str(Path(spec.source).parent / part) for part in name.split(","))
    try:
        return load_data_file(name, target, spec.loss_rule.labels, spec.training["seed"])
    except (DataFileError, OSError) as exc:
        raise UsageError(f"{exc}; built-in data sets: {', '.join(DATASETS)}") from None


def input_error(spec: Spec, data: Dataset, exc: TrainingInputError) -> Exception:
    """A fit's TrainingInputError as the CLI reports it: a spec setting by its key, else the data set by name."""
    if exc.field == "validation_split":
        from .spec import SpecError

        return SpecError(spec.source, f"training.{exc.field}", str(exc))
    return UsageError(f"data set {data.name!r}: {exc}")


def kept_message(history: History, restore_best: bool) -> str:
    """Which parameters a finished or interrupted run left in the trainer."""
    if not restore_best:
        return "kept the parameters of the last step"
    return f"kept the parameters of epoch {history.best_epoch}" if history.best_epoch else \
        "kept the starting parameters (no epoch finished)"


def train(spec: Spec, data: Dataset, args: argparse.Namespace) -> tuple[Trainer, dict[str, float]]:
    """Compile, fit on the training part of ``data`` and evaluate on its test part (``{}`` when it has none)."""
    from .train import INTERRUPTED, TrainingInputError
    from .train.checks import check_finite, held_out_rows
    from .train.streaming import is_streamed

    X, Y = spec.data_arrays(data, data.X_train, data.y_train)
    X_test, Y_test = spec.data_arrays(data, data.X_test, data.y_test)
    streamed = is_streamed(X)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                   ("scheduler", getattr(args, "scheduler", None))) if v is not None}  # train only
    if data.validation is not None:  # the data's own validation rows replace a split
        overrides |= {"validation_data": spec.data_arrays(data, *data.validation), "validation_split": 0.0}
    try:  # the data's own faults, said before compiling (fit checks them again, with the rest)
        if streamed and "validation_data" not in overrides and spec.training["validation_split"] > 0:
            raise TrainingInputError("validation_split", f"{data.name} is read block by block and cannot be split "
                                     "in memory: put validation rows in X_valid/ and y_valid/ (symdiff.train.chunks."
                                     "save_chunks(..., part='valid')), or set validation_split = 0")
        if not streamed:  # streamed data is checked in one pass by fit
            check_finite("X", np.asarray(X))
            check_finite("Y", np.asarray(Y))
            held_out_rows(len(X), spec.training["validation_split"])
    except TrainingInputError as exc:
        raise input_error(spec, data, exc) from None
    trainer = compile_spec(spec, args.seed)
    if args.lr is not None:
        trainer.step.lr = args.lr
    say(f"training {spec.name!r} on {data.name!r}: {len(X)} training and {len(X_test)} test examples")
    try:
        history, seconds = timed("", lambda: spec.fit(trainer, X, Y, progress=args.progress, **overrides))
    except TrainingInputError as exc:
        raise input_error(spec, data, exc) from None
    kept = kept_message(history, spec.training["restore_best"])
    if history.stop_reason == INTERRUPTED:
        raise TrainingInterruptedError(f"interrupted after {history.epochs} finished epochs in {seconds:.2f} s; {kept}")
    say(f"{history.stop_reason} in {seconds:.2f} s; {kept}")
    results = trainer.evaluate(X_test, Y_test) if len(X_test) else {}
    say("test: " + "  ".join(f"{k} {v:.4f}" for k, v in results.items()) if results else
         f"no test rows in {data.name!r} (X_test/, y_test/): skipped the test evaluation")
    if args.plot:
        say(f"loss curves written to {history.plot(args.plot)}")
    return trainer, results
