"""Metrics computed from model outputs and targets (NumPy arrays), by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose highest output is the labelled class."""
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))


def mse(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean squared error over every entry."""
    outputs, targets = _paired(outputs, targets)
    return float(np.mean((outputs - targets) ** 2))


def mae(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean absolute error over every entry."""
    outputs, targets = _paired(outputs, targets)
    return float(np.mean(np.abs(outputs - targets)))


def _paired(outputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and targets entry by entry: one output per row, (N, 1), against targets of shape (N,) pairs row with
    row (subtracting them would broadcast to N x N pairs); other shapes must match."""
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    if outputs.shape == targets.shape:
        return outputs, targets
    if outputs.size == targets.size and outputs.shape[:1] == targets.shape[:1]:
        return np.ravel(outputs), np.ravel(targets)
    raise ValueError(f"metric: outputs of shape {outputs.shape} do not pair entry by entry with targets of "
                     f"shape {targets.shape}")


def _binary(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true classes of a binary model: a logit above 0 predicts 1 (sigmoid above 1/2)."""
    return np.ravel(logits) > 0, np.ravel(targets) > 0.5


def binary_accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of rows whose logit has the target's side of 0 (targets 0/1, one per row)."""
    predicted, actual = _binary(logits, targets)
    return float(np.mean(predicted == actual))


def _counts(logits: np.ndarray, targets: np.ndarray) -> tuple[int, int, int]:
    predicted, actual = _binary(logits, targets)
    return int(np.sum(predicted & actual)), int(np.sum(predicted & ~actual)), int(np.sum(~predicted & actual))


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")  # undefined, as scikit-learn warns


def precision(logits: np.ndarray, targets: np.ndarray) -> float:
    """True positives over predicted positives (nan when nothing is predicted positive)."""
    tp, fp, _ = _counts(logits, targets)
    return _ratio(tp, tp + fp)


def recall(logits: np.ndarray, targets: np.ndarray) -> float:
    """True positives over actual positives (nan when there are none)."""
    tp, _, fn = _counts(logits, targets)
    return _ratio(tp, tp + fn)


def f1(logits: np.ndarray, targets: np.ndarray) -> float:
    """Harmonic mean of precision and recall: ``2 tp / (2 tp + fp + fn)``."""
    tp, fp, fn = _counts(logits, targets)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def roc_auc(logits: np.ndarray, targets: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outranks a random negative (ties count
    one half), from the ranks of the logits (the Mann-Whitney U statistic)."""
    from scipy.stats import rankdata

    scores, actual = np.ravel(logits), np.ravel(targets) > 0.5
    positives, negatives = int(actual.sum()), int((~actual).sum())
    if not positives or not negatives:
        return float("nan")
    ranks = rankdata(scores)  # average ranks for ties
    return float((ranks[actual].sum() - positives * (positives + 1) / 2) / (positives * negatives))


#: Metrics by name; each maps (outputs, targets) to a float.
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy, "mse": mse, "mae": mae, "binary_accuracy": binary_accuracy, "precision": precision,
    "recall": recall, "f1": f1, "roc_auc": roc_auc,
}


def default_metrics(labels: bool, loss: Callable | None = None) -> list[str]:
    """``["accuracy"]`` for integer class labels, ``["binary_accuracy"]`` for a binary cross-entropy model (from
    its logits), ``["mse"]`` for other real-valued targets."""
    from ..nn import binary_cross_entropy

    if loss is binary_cross_entropy:
        return ["binary_accuracy"]
    return ["accuracy"] if labels else ["mse"]


def check_metrics(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` after checking each is a known metric."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known metrics: {', '.join(METRICS)}")
    return list(names)
