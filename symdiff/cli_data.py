"""Data files for the ``symdiff`` command: a user's own data set (``--data file.csv|file.npz|X.npy,y.npy``) and
the predictions of a saved model for the rows of a CSV file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .train.data import Dataset


class DataFileError(ValueError):
    """A data file that cannot be read as the model's inputs (the command exits 2, naming file and line)."""


def read_csv(path: Path, columns: int | None = None) -> np.ndarray:
    """The numbers of a CSV file with a header row, as a (rows, columns) array; errors name the file, the line and
    the column count expected (``columns``, else the header's)."""
    return read_table(path, columns)[1]


def read_table(path: Path, columns: int | None = None) -> tuple[list[str], np.ndarray]:
    """The column names (the header row's, stripped) and the numbers of a CSV file, read as :func:`read_csv`
    reads it."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot read the file: {exc}") from None
    if not lines:
        raise DataFileError(f"{path}: the file is empty; expected a header row, then one example per line")
    columns = columns or len(lines[0].split(","))
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != columns:
            raise DataFileError(f"{path}: line {number}: expected {columns} comma-separated numbers, got {len(cells)}")
        try:
            rows.append([float(cell) for cell in cells])
        except ValueError:
            raise DataFileError(f"{path}: line {number}: expected numbers, got {line[:80]!r}") from None
    if not rows:
        raise DataFileError(f"{path}: no data rows after the header")
    return [name.strip() for name in lines[0].split(",")], np.array(rows)


def load_data_file(text: str, target: str | None, labels: bool, seed: int) -> Dataset:
    """A user's data set, split 80/20 into training and test rows (seeded): a CSV with a header row whose
    ``target`` column (default: the last) holds the targets, an ``.npz`` with arrays ``X`` and ``y``, or a pair
    ``X.npy,y.npy``. Integer class labels when ``labels``, else a column of real values."""
    from .train.data import split

    parts = [Path(p) for p in text.split(",")]
    if len(parts) == 1 and parts[0].is_dir():
        return load_chunked(parts[0], labels)
    if len(parts) == 2 and all(p.suffix == ".npy" for p in parts):
        X, y = (_load_npy(p) for p in parts)
    elif len(parts) == 1 and parts[0].suffix == ".npz":
        with np.load(parts[0], allow_pickle=False) as arrays:
            missing = {"X", "y"} - set(arrays.files)
            if missing:
                raise DataFileError(f"{parts[0]}: expected arrays named X and y, got {sorted(arrays.files)}")
            X, y = arrays["X"], arrays["y"]
    elif len(parts) == 1 and parts[0].suffix == ".csv":
        names, table = read_table(parts[0])
        if target is not None and target not in names:
            raise DataFileError(f"{parts[0]}: --target {target!r} is not a column; the columns are {names}")
        column = names.index(target) if target is not None else len(names) - 1
        X, y = np.delete(table, column, axis=1), table[:, column]
    else:
        raise DataFileError(f"--data {text}: expected a built-in data set name, a .csv or .npz file, X.npy,y.npy, or "
                            "a directory of .npy chunks or a Zarr store")
    if X.ndim != 2 or len(X) != len(y):
        raise DataFileError(f"--data {text}: X must be (rows, features) with one target per row, got X {X.shape} "
                            f"and y {y.shape}")
    if labels:
        if not np.all(y == np.round(y)) or y.min() < 0:
            raise DataFileError(f"--data {text}: the loss needs class labels 0, 1, 2, ...; the targets are not")
        y = y.astype(np.int64)
        classes = int(y.max()) + 1
    else:
        y, classes = y.reshape(len(y), -1).astype(np.float64), None
    return split(parts[0].name, X.astype(np.float64), y, 0.2, seed, classes)


def load_chunked(path: Path, labels: bool) -> Dataset:
    """A data set larger than memory (a chunk directory or Zarr store, see :mod:`symdiff.train.chunks`) as dask
    arrays; only the targets are read here (to count the classes and check they are labels)."""
    import dask

    from .train.chunks import ChunkedDataError, open_chunked

    try:
        parts = open_chunked(path)
    except ChunkedDataError as exc:
        raise DataFileError(str(exc)) from None
    X, y = parts["train"]
    if X.ndim != 2 or y.ndim not in (1, 2):
        raise DataFileError(f"{path}: X_train must be (rows, features) and y_train one target (or a row of them) per "
                            f"row, got X_train {X.shape} and y_train {y.shape}")
    targets = [part[1] for part in parts.values()]
    classes = None
    if labels:
        checks = [((t == t.round()).all() & (t.min() >= 0), t.max()) for t in targets]
        found = dask.compute(checks)[0]
        if not all(bool(ok) for ok, _ in found):
            raise DataFileError(f"{path}: the loss needs class labels 0, 1, 2, ...; the targets are not")
        classes = int(max(top for _, top in found)) + 1
    shaped = (lambda t: t.astype(np.int64)) if labels else (lambda t: t.reshape(len(t), -1).astype(np.float64))
    split = {name: (inputs.astype(np.float64), shaped(t)) for name, (inputs, t) in parts.items()}
    X_test, y_test = split.get("test", (split["train"][0][:0], split["train"][1][:0]))
    return Dataset(path.name, *split["train"], X_test, y_test, classes, split.get("valid"))


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: cannot read the array: {exc}") from None


def write_predictions(trainer, X: np.ndarray, output: Path | None) -> int:
    """Class labels and probabilities for classifiers, the outputs for real-valued models, as CSV."""
    if trainer.labels or trainer.binary:
        probabilities = trainer.predict_proba(X).reshape(len(X), -1)
        labels = np.argmax(probabilities, axis=1) if not trainer.binary else (probabilities[:, 0] > 0.5).astype(int)
        header = ["label"] + [f"p{k}" for k in range(probabilities.shape[1])]
        table = np.column_stack([labels, probabilities])
        formats = ["%d"] + ["%.6g"] * probabilities.shape[1]
    else:
        table = np.asarray(trainer.predict(X)).reshape(len(X), -1)
        header = [f"y{k}" for k in range(table.shape[1])]
        formats = ["%.9g"] * table.shape[1]
    target = sys.stdout if output is None else output.open("w", encoding="utf-8")
    try:
        np.savetxt(target, table, delimiter=",", header=",".join(header), comments="", fmt=formats)
    finally:
        if output is not None:
            target.close()
    return len(X)
