"""symdiff's column of the MLP benchmark: the same SGD step compiled into one kernel."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import symdiff as sd  # noqa: E402
from tests.mlp import mlp_graph, sgd_step  # noqa: E402

_STEPS: dict[tuple, sd.CompiledFunction] = {}


def compiled_step(n_in: int, n_hidden: int, n_out: int, lr: float) -> sd.CompiledFunction:
    """The compiled training step (one per layer shape: the batch dim is named, so it serves every batch)."""
    key = (n_in, n_hidden, n_out, lr)
    if key not in _STEPS:
        inputs, loss = mlp_graph(n_in, n_hidden, n_out)
        outputs, updates = sgd_step(inputs, loss, lr=lr)
        _STEPS[key] = sd.compile(inputs, outputs[0], updates, name="train_step")
    return _STEPS[key]


def make_symdiff_step(problem: dict[str, np.ndarray], lr: float):
    """A zero-argument training step on copies of the problem's parameters (same contract as the peers)."""
    from mlp_peers import PARAMETER_NAMES, TrainingStep

    step = compiled_step(problem["X"].shape[1], problem["W1"].shape[1], problem["W2"].shape[1], lr)
    X, y = np.ascontiguousarray(problem["X"]), np.ascontiguousarray(problem["y"])
    params = {name: problem[name].copy() for name in PARAMETER_NAMES}
    args = (X, y, *params.values())
    return TrainingStep(run=lambda: step(*args), parameters=lambda: {k: v.copy() for k, v in params.items()})
