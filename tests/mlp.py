"""A small tanh MLP with softmax cross-entropy, shared by the compile tests and examples."""

from __future__ import annotations

import numpy as np

import symdiff as sd


def mlp_graph(n_in: int, n_hidden: int, n_out: int, dtype: str = "float64"):
    x = sd.tensor("x", ("batch", n_in), dtype)
    y = sd.tensor("y", ("batch",), "int64")
    W1, b1 = sd.tensor("W1", (n_in, n_hidden), dtype), sd.tensor("b1", (n_hidden,), dtype)
    W2, b2 = sd.tensor("W2", (n_hidden, n_out), dtype), sd.tensor("b2", (n_out,), dtype)
    logits = sd.tanh(x @ W1 + b1) @ W2 + b2
    picked = sd.take_along_axis(sd.log_softmax(logits), sd.expand_dims(y, 1), axis=1)
    loss = -sd.mean(picked)
    return (x, y, W1, b1, W2, b2), loss


def mlp_values(batch: int, n_in: int, n_hidden: int, n_out: int, seed: int = 0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [
        rng.normal(size=(batch, n_in)).astype(dtype),
        rng.integers(0, n_out, size=batch),
        (rng.normal(size=(n_in, n_hidden)) / np.sqrt(n_in)).astype(dtype),
        np.zeros(n_hidden, dtype),
        (rng.normal(size=(n_hidden, n_out)) / np.sqrt(n_hidden)).astype(dtype),
        np.zeros(n_out, dtype),
    ]


def sgd_step(inputs, loss, lr: float = 0.1):
    """The SGD training step as (outputs, updates) for sd.compile."""
    params = inputs[2:]
    grads = sd.grad(loss, list(params))
    return [loss], {p: p - lr * g for p, g in zip(params, grads)}
