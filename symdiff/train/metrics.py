"""Metrics computed from model outputs and targets (NumPy arrays), by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose highest output is the labelled class (outputs ``(N, C)``, ``C >= 2``; labels ``(N,)``)."""
    outputs, labels = _checked("accuracy", outputs, labels)
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))


def mse(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean squared error over every entry."""
    outputs, targets = _paired("mse", outputs, targets)
    return float(np.mean((outputs - targets) ** 2))


def mae(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean absolute error over every entry."""
    outputs, targets = _paired("mae", outputs, targets)
    return float(np.mean(np.abs(outputs - targets)))


def _checked(name: str, outputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``outputs`` and ``targets`` as arrays after checking metric ``name`` can compare them (see
    :func:`pairing_problem`)."""
    outputs, targets = np.asarray(outputs), np.asarray(targets)
    problem = pairing_problem(name, outputs.shape, targets.shape)
    if problem is not None:
        raise ValueError(f"metric {problem}")
    return outputs, targets


def _paired(name: str, outputs: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and targets entry by entry, flat: one output per row, (N, 1), against targets of shape (N,) pairs row
    with row (subtracting them would broadcast to N x N pairs); other shapes must match."""
    outputs, targets = _checked(name, outputs, targets)
    return np.ravel(outputs), np.ravel(targets)


def pairing_problem(name: str, outputs: Sequence[int | str], targets: Sequence[int | str]) -> str | None:
    """Why metric ``name`` cannot compare outputs of shape ``outputs`` with targets of shape ``targets`` (the first
    axis counts rows; a graph's shapes may name it), or None when it can. ``accuracy`` takes the argmax over the last
    axis (at least 2 outputs) against labels of the remaining shape; the other metrics pair entries, shapes equal
    but for length-1 axes after the rows (outputs (N, 1) with targets (N,))."""
    outputs, targets = tuple(outputs), tuple(targets)
    if READS[name] == "classes":
        if len(outputs) < 2 or outputs[-1] == 1:
            return (f"{name} needs one output per class (at least 2) to take the argmax of; outputs of shape {outputs} "
                    "have one per row (a binary model's logit: use binary_accuracy)")
        if outputs[:-1] != targets:
            return (f"{name} needs class labels of shape {outputs[:-1]} for outputs of shape {outputs} (the argmax of "
                    f"each row); got targets of shape {targets}")
        return None
    if _entries(outputs) != _entries(targets):
        hint = " (class scores against class labels: use accuracy)" if outputs[:-1] == targets else ""
        return (f"{name} needs outputs and targets that pair entry by entry; outputs of shape {outputs} do not pair "
                f"with targets of shape {targets}{hint}")
    return None


def _entries(shape: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """``shape`` without the length-1 axes after the rows."""
    return shape[:1] + tuple(d for d in shape[1:] if d != 1)


def _binary(name: str, logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted and true classes of a binary model: a logit above 0 predicts 1 (sigmoid above 1/2)."""
    logits, targets = _paired(name, logits, targets)
    return logits > 0, targets > 0.5


def binary_accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of rows whose logit has the target's side of 0 (targets 0/1, one per row)."""
    predicted, actual = _binary("binary_accuracy", logits, targets)
    return float(np.mean(predicted == actual))


def _counts(name: str, logits: np.ndarray, targets: np.ndarray) -> tuple[int, int, int]:
    predicted, actual = _binary(name, logits, targets)
    return int(np.sum(predicted & actual)), int(np.sum(predicted & ~actual)), int(np.sum(~predicted & actual))


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")  # undefined, as scikit-learn warns


def precision(logits: np.ndarray, targets: np.ndarray) -> float:
    """True positives over predicted positives (nan when nothing is predicted positive)."""
    tp, fp, _ = _counts("precision", logits, targets)
    return _ratio(tp, tp + fp)


def recall(logits: np.ndarray, targets: np.ndarray) -> float:
    """True positives over actual positives (nan when there are none)."""
    tp, _, fn = _counts("recall", logits, targets)
    return _ratio(tp, tp + fn)


def f1(logits: np.ndarray, targets: np.ndarray) -> float:
    """Harmonic mean of precision and recall: ``2 tp / (2 tp + fp + fn)``."""
    tp, fp, fn = _counts("f1", logits, targets)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def roc_auc(logits: np.ndarray, targets: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outranks a random negative (ties count
    one half), from the ranks of the logits (the Mann-Whitney U statistic)."""
    from scipy.stats import rankdata

    scores, targets = _paired("roc_auc", logits, targets)
    actual = targets > 0.5
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


#: What each metric reads from a model's outputs: ``"classes"`` (one score per class, whose argmax is compared with
#: class labels), ``"logits"`` (a binary model's logits against 0/1 targets, entry by entry) or ``"values"`` (outputs
#: against targets entry by entry).
READS: dict[str, str] = {"accuracy": "classes", "mse": "values", "mae": "values"} | dict.fromkeys(
    ("binary_accuracy", "precision", "recall", "f1", "roc_auc"), "logits")

#: What a metric of each kind needs, and how a model of each kind is described.
NEEDS = {"classes": "class labels and one output per class (a softmax_cross_entropy, sparsemax_loss or "
                    "multiclass_hinge loss)",
         "logits": "a binary model's logits against 0/1 targets (a binary_cross_entropy loss)",
         "values": "real-valued targets"}
GIVES = {"classes": "class scores against class labels", "logits": "a binary model's logits",
         "values": "real values"}


def model_kind(labels: bool, loss: Callable | None = None) -> str:
    """What a model's outputs are (a key of :data:`NEEDS`): ``"logits"`` for a binary cross-entropy model,
    ``"classes"`` for integer class labels, ``"values"`` otherwise."""
    from ..nn import binary_cross_entropy

    return "logits" if loss is binary_cross_entropy else "classes" if labels else "values"


def fitting_metrics(kind: str) -> list[str]:
    """The metrics a model of ``kind`` can report: its own kind's, then (for a binary model's logits) the real-valued
    ones."""
    also = ("values",) if kind == "logits" else ()
    return [name for wanted in (kind, *also) for name, reads in READS.items() if reads == wanted]


def kind_problem(name: str, kind: str, loss: str) -> str | None:
    """Why metric ``name`` does not fit a model of ``kind`` trained with the loss named ``loss`` (None when it
    does), naming what the metric needs and the metrics that fit."""
    if name in fitting_metrics(kind):
        return None
    return f"{name} needs {NEEDS[READS[name]]}; the {loss} loss gives {GIVES[kind]}: use " + \
        ", ".join(fitting_metrics(kind))


def default_metrics(labels: bool, loss: Callable | None = None) -> list[str]:
    """``["accuracy"]`` for integer class labels, ``["binary_accuracy"]`` for a binary cross-entropy model (from
    its logits), ``["mse"]`` for other real-valued targets."""
    return [{"classes": "accuracy", "logits": "binary_accuracy", "values": "mse"}[model_kind(labels, loss)]]


def check_metrics(names: list[str] | tuple[str, ...], outputs: Sequence[int | str] | None = None,
                  targets: Sequence[int | str] | None = None) -> list[str]:
    """``names`` after checking each is a known metric and, given the shapes of a model's ``outputs`` and
    ``targets`` (graph shapes: rows first, named alike), that each can compare them (:func:`pairing_problem`)."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known metrics: {', '.join(METRICS)}")
    if outputs is not None and targets is not None:
        for name in names:
            problem = pairing_problem(name, outputs, targets)
            if problem is not None:
                raise ValueError(f"metrics: {problem}")
    return list(names)
