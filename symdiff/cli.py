"""The ``symdiff`` command: compile, grad, train, demo and cache.

Exit codes: 0 success; 2 a bad command line, spec or data (one line naming the file and key path, the option or
the data set, and what was expected); 1 any other failure (a missing optional package, an unwritable file, out of
memory, ...); 130 interrupted (after saying which parameters training kept).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ._version import __version__
from .cli_train import TrainingInterruptedError, UsageError, compile_spec, dataset, say, train

#: The demo's model: the same as examples/specs/digits.toml (so the two share one compiled kernel).
DEMO_SPEC = {
    "name": "digits",
    "inputs": 64,
    "layers": [
        {"type": "dense", "units": 64, "activation": "tanh"},
        {"type": "dropout", "rate": 0.1},
        {"type": "dense", "units": 10},
    ],
    "loss": {"type": "softmax_cross_entropy"},
    "regularizer": {"type": "l2", "scale": 1e-4},
    "optimizer": {"type": "adam", "lr": 0.005},
    "training": {"data": "digits", "epochs": 40, "batch_size": 32, "validation_split": 0.1, "patience": 8},
}


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _integer(text: str, low: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:  # not an integer, or more digits than Python reads
        value = low - 1
    if not low <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _integer(text, 1, "a positive integer")


def _seed(text: str) -> int:
    return _integer(text, 0, "an integer >= 0")


def _scheduler_address(text: str) -> str:
    """A Dask scheduler address or 'local'; a spec file here means ``--scheduler`` came before the spec and took it."""
    if Path(text).suffix.lower() in (".toml", ".json") or Path(text).is_file():
        raise argparse.ArgumentTypeError(f"expected a scheduler address (tcp://host:8786) or 'local', got the file "
                                         f"{text!r}; put --scheduler after the spec (alone it starts a LocalCluster)")
    return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _output_path(option: str, text: str, suffixes: tuple[str, ...]) -> Path:
    """``text`` as a file path we can write, checked before any work: a known suffix, an existing writable
    directory (never created), not a directory itself."""
    path = Path(text)
    if path.suffix.lower() not in suffixes:
        raise UsageError(f"{option} {text}: expected a file ending in {' or '.join(suffixes)}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{option} {text}: the directory {parent} does not exist")
    if path.is_dir():
        raise UsageError(f"{option} {text}: is a directory, expected a file")
    if not os.access(parent, os.W_OK) or path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {text}: not writable")
    return path


def _check_plot(args) -> None:
    """A requested plot never fails after training: its path and matplotlib are checked first."""
    if getattr(args, "plot", None):
        from .train.history import PLOT_FORMATS

        _output_path("--plot", args.plot, tuple(f".{f}" for f in PLOT_FORMATS))
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install -e \".[plot]\"") from None


def cmd_compile(args) -> int:
    from .spec import load_spec
    from .train.export import export_kernels

    output = _output_path("-o", args.output, (".py",))
    if not output.stem.isidentifier():
        raise UsageError(f"-o {output}: expected a .py file whose name is a Python identifier (e.g. kernels.py)")
    spec = load_spec(args.spec)
    trainer = compile_spec(spec, args.seed)
    files = export_kernels(trainer, output)
    say(f"wrote {files[0]} (import it: from {files[0].stem} import train_step, predict) with "
         + ", ".join(str(f) for f in files[1:]))
    return 0


def cmd_grad(args) -> int:
    import symdiff as sd

    from .spec import load_spec

    spec = load_spec(args.spec)
    params = spec.model.parameters
    chosen = args.param or list(params)
    unknown = [p for p in chosen if p not in params]
    if unknown:
        raise UsageError(f"unknown parameter {unknown[0]!r}; the parameters of {spec.name!r} are: {', '.join(params)}")
    loss = spec.loss(training=args.training)
    grads = sd.grad(loss, [params[p] for p in chosen])
    labelled = {f"∂L/∂{p}": g for p, g in zip(chosen, grads)}
    print(sd.latex(labelled) if args.latex else sd.formula(labelled))
    return 0


def cmd_train(args) -> int:
    from .spec import load_spec

    _check_plot(args)
    bundle = _bundle_path(args.output) if args.output else None
    spec = load_spec(args.spec)
    data = dataset(spec, args.data, args.target)
    trainer, _ = train(spec, data, args)
    if bundle is not None:
        say(f"model saved to {trainer.save(bundle)} (symdiff predict {bundle} DATA.csv)")
    return 0


def _bundle_path(text: str) -> Path:
    """A model directory to write, checked before any work: its parent exists, it is not a file."""
    path = Path(text)
    if not path.parent.is_dir():
        raise UsageError(f"--output {text}: the directory {path.parent} does not exist")
    if path.exists() and not path.is_dir():
        raise UsageError(f"--output {text}: is a file, expected a directory for the model")
    return path


def cmd_predict(args) -> int:
    from .cli_data import DataFileError, read_csv, write_predictions
    from .spec import load_model

    bundle = Path(args.model)
    if not (bundle / "meta.json").is_file():
        raise UsageError(f"{bundle}: not a model directory (no meta.json); write one with symdiff train --output")
    output = _output_path("-o", args.output, (".csv",)) if args.output else None
    trainer = load_model(bundle)
    try:
        X = read_csv(Path(args.data), int(trainer.x.shape[-1]))
    except DataFileError as exc:
        raise UsageError(str(exc)) from None
    rows = write_predictions(trainer, X, output)
    if output is not None:
        say(f"wrote {rows} predictions to {output}")
    return 0


def cmd_demo(args) -> int:
    import symdiff as sd

    from .spec import load_spec

    _output_path("-o", args.output, (".py",))
    _check_plot(args)
    start = time.perf_counter()
    spec = load_spec(DEMO_SPEC)
    data = dataset(spec, "digits")
    say("symdiff demo: a digits classifier (8x8 images, 10 classes), 64 -> 64 tanh -> dropout -> 10 softmax")
    trainer, results = train(spec, data, args)
    say(f"test accuracy: {100 * results['accuracy']:.1f}%")
    bias = spec.model.parameters["digits_dense2_b"]
    say("\nthe derived gradient of the loss with respect to the output bias:")
    say(sd.formula({"∂L/∂b2": sd.grad(spec.loss(), bias)}))
    path = sd.export(trainer.step.fn, args.output)
    say(f"\nthe generated training-step kernel (forward + backward + Adam) is in {path.resolve()}")
    say(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def _human(nbytes: int) -> str:
    """``2.9 KiB`` for 3010."""
    value, unit = float(nbytes), 0
    while value >= 1024 and unit < 4:
        value, unit = value / 1024, unit + 1
    return f"{nbytes} B" if unit == 0 else f"{value:.1f} {('KiB', 'MiB', 'GiB', 'TiB')[unit - 1]}"


def cmd_cache(args) -> int:
    from .codegen import cache

    root = cache.cache_dir()
    if args.action == "clear":
        removed, nbytes, busy = cache.clear(root)
        kept = f"; kept {busy} {'entry' if busy == 1 else 'entries'} being written" if busy else ""
        say(f"removed {removed} {'entry' if removed == 1 else 'entries'} ({nbytes} bytes) from {root}{kept}")
        return 0
    try:
        limit = cache.max_bytes()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    found = cache.entries(root)
    say(f"path: {root}" + ("" if root.exists() else " (not created yet)"))
    problem = cache.directory_problem(root, root=True) if root.exists() else None
    if problem:
        say(f"not used: {problem}; kernels compile into a private temporary directory")
    size = sum(entry.nbytes for entry in found)
    setting = cache.MAX_BYTES_VARIABLE if os.environ.get(cache.MAX_BYTES_VARIABLE, "").strip() else \
        f"the default; set {cache.MAX_BYTES_VARIABLE} to change it"
    say(f"entries: {len(found)}")
    say(f"size: {size} bytes ({_human(size)})")
    say(f"limit: {limit} bytes ({_human(limit)}; {setting})")
    return 0


def _common_training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=_positive_int, help="number of epochs (default: the spec's training.epochs)")
    parser.add_argument("--batch-size", type=_positive_int,
                        help="mini-batch size (default: the spec's training.batch_size)")
    parser.add_argument("--lr", type=_positive_float, help="starting learning rate (default: the spec's optimizer.lr)")
    parser.add_argument("--seed", type=_seed, help="seed for parameters, split, batches and dropout")
    parser.add_argument("--plot", metavar="FILE", help="save the loss curves to this .png, .svg or .pdf file (needs "
                        "matplotlib; checked before training)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: when stderr is a terminal)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``symdiff`` command."""
    from .train import DATASETS

    parser = _Parser(prog="symdiff", description="Symbolic differentiation compiled to fused native kernels: "
                     "compile, inspect and train models described by spec files.")
    parser.add_argument("--version", action="version", version=f"symdiff {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    compile_cmd = commands.add_parser("compile", help="export a spec's train step and predict kernels",
                                      description="Compile a spec's training step and predict function and "
                                      "write them as standalone modules (numpy + numba).")
    compile_cmd.add_argument("spec", help="spec file (.toml or .json)")
    compile_cmd.add_argument("-o", "--output", default="kernels.py",
                             help="front module to write; the kernels go next to it (default: %(default)s)")
    compile_cmd.add_argument("--seed", type=_seed, help="seed of the starting values saved next to the kernels")
    compile_cmd.set_defaults(run=cmd_compile)

    grad_cmd = commands.add_parser("grad", help="print the derived gradient formulas",
                                   description="Print the gradient of the spec's loss with respect to its parameters.")
    grad_cmd.add_argument("spec", help="spec file (.toml or .json)")
    grad_cmd.add_argument("--param", action="append", metavar="NAME", help="only this parameter (repeatable)")
    grad_cmd.add_argument("--latex", action="store_true", help="print LaTeX instead of Unicode maths")
    grad_cmd.add_argument("--training", action="store_true", help="differentiate the training graph (with dropout)")
    grad_cmd.set_defaults(run=cmd_grad)

    train_cmd = commands.add_parser("train", help="train a spec on a built-in data set",
                                    description="Train a spec on a built-in data set and report test metrics.")
    train_cmd.add_argument("spec", help="spec file (.toml or .json)")
    train_cmd.add_argument("--data", help=f"a built-in data set ({', '.join(DATASETS)}) or your file: a .csv with a "
                           "header row, an .npz with X and y, X.npy,y.npy, or data larger than memory read block by "
                           "block: a directory of .npy chunks (X_train/, y_train/, optional X_valid/ and X_test/ with "
                           "their y_) or a Zarr store (default: the spec's training.data)")
    _common_training_options(train_cmd)
    train_cmd.add_argument("--target", metavar="COLUMN", help="the CSV column holding the targets (default: the "
                           "last column)")
    train_cmd.add_argument("--output", metavar="DIR", help="save the trained model to this directory (a bundle "
                           "symdiff predict and sd.load_model read)")
    train_cmd.add_argument("--scheduler", metavar="ADDRESS", nargs="?", const="local", type=_scheduler_address,
                           help="compute each mini-batch's gradient on a Dask cluster: a scheduler address "
                           "(tcp://host:8786), or 'local' (the default when no address follows: a LocalCluster "
                           "started for the run, one worker process per core; needs pip install -e "
                           "\".[distributed]\")")
    train_cmd.set_defaults(run=cmd_train)

    predict_cmd = commands.add_parser("predict", help="predict with a saved model",
                                      description="Predict the rows of a CSV file (a header row, then one example per "
                                      "line, the model's inputs as columns) with a model saved by train --output.")
    predict_cmd.add_argument("model", help="model directory written by symdiff train --output")
    predict_cmd.add_argument("data", help="CSV file of inputs")
    predict_cmd.add_argument("-o", "--output", help="CSV file to write (default: standard output)")
    predict_cmd.set_defaults(run=cmd_predict)

    demo_cmd = commands.add_parser("demo", help="train a digits classifier end to end",
                                   description="Train a digits classifier on the built-in digits data, print its "
                                   "test accuracy and a derived gradient formula, and export its kernel.")
    demo_cmd.add_argument("-o", "--output", default="symdiff_demo_train_step.py",
                          help="where to write the generated training-step source (default: %(default)s)")
    _common_training_options(demo_cmd)
    demo_cmd.set_defaults(run=cmd_demo)

    cache_cmd = commands.add_parser("cache", help="show or clear the compiled-kernel cache",
                                    description="The compiled-kernel cache on disk ($SYMDIFF_CACHE_DIR, default "
                                    "~/.cache/symdiff; size bound $SYMDIFF_CACHE_MAX_BYTES, default 1 GiB).")
    cache_cmd.add_argument("action", choices=["info", "clear"],
                           help="info: path, entries, bytes and limit; clear: remove every entry")
    cache_cmd.set_defaults(run=cmd_cache)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``symdiff`` command; returns the exit code."""
    from .spec import SpecError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (SpecError, UsageError) as exc:
        print(f"symdiff {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"symdiff {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except MemoryError as exc:
        print(f"symdiff {args.command}: error: out of memory{': ' if str(exc) else ''}{_one_line(exc)}",
              file=sys.stderr)
        return 1
    except TrainingInterruptedError as exc:
        print(f"symdiff {args.command}: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"symdiff {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
