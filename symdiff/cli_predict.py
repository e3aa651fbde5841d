"""``symdiff predict BUNDLE DATA.csv``: predictions of a saved model for the rows of a CSV file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


class DataFileError(ValueError):
    """A data file that cannot be read as the model's inputs (the command exits 2, naming file and line)."""


def read_csv(path: Path, columns: int) -> np.ndarray:
    """The numbers of a CSV file with a header row, as a (rows, columns) array; errors name the file, the row and
    the column count expected."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot read the file: {exc}") from None
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != columns:
            raise DataFileError(f"{path}: line {number}: expected {columns} comma-separated numbers (the model's "
                             f"inputs), got {len(cells)}")
        try:
            rows.append([float(cell) for cell in cells])
        except ValueError:
            raise DataFileError(f"{path}: line {number}: expected numbers, got {line[:80]!r}") from None
    if not rows:
        raise DataFileError(f"{path}: no data rows after the header")
    return np.array(rows)


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
