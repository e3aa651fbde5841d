"""Metrics computed from model outputs and targets (NumPy arrays), by name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose highest output is the labelled class."""
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))


def mse(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean squared error over every entry."""
    return float(np.mean((outputs - targets) ** 2))


def mae(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean absolute error over every entry."""
    return float(np.mean(np.abs(outputs - targets)))


#: Metrics by name; each maps (outputs, targets) to a float.
METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"accuracy": accuracy, "mse": mse, "mae": mae}


def default_metrics(labels: bool) -> list[str]:
    """``["accuracy"]`` for integer class labels, ``["mse"]`` for real-valued targets."""
    return ["accuracy"] if labels else ["mse"]


def check_metrics(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` after checking each is a known metric."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known metrics: {', '.join(METRICS)}")
    return list(names)
