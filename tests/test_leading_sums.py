"""Sums over leading axes computed by the loop that computes what they sum (codegen/leading_sums.py): a layer's
bias gradient is added up while its rows are computed, not read back by a pass of its own; the same numbers."""

import numpy as np
import pytest

import symdiff as sd
from tests.mlp import mlp_graph, sgd_step

R = np.random.default_rng(7)


def _loop_comments(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if line.strip().startswith("# fused elementwise")]


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_bias_gradient_is_summed_by_the_loop_computing_its_rows(backend):
    inputs, loss = mlp_graph(8, 16, 3)
    outputs, updates = sgd_step(inputs, loss, lr=0.1)
    fused = sd.compile(inputs, outputs[0], updates, backend=backend)
    # the hidden layer's gradient (batch, 16) and its sum over the batch (1, 16) in one loop nest
    assert any("('batch', 16)" in c and "sum (1, 16)" in c for c in _loop_comments(fused.source))
    assert "of n38 multiply ('batch', 16)" not in fused.source  # no pass of its own reading the gradient again
    separate = sd.compile(inputs, outputs[0], updates, backend=backend, fuse=False)
    x, y = R.standard_normal((37, 8)), R.integers(0, 3, 37)
    params = [R.standard_normal(p.shape) for p in inputs[2:]]
    copies = [p.copy() for p in params]
    np.testing.assert_array_equal(fused(x, y, *params), separate(x, y, *copies))
    for a, b in zip(params, copies):  # the same additions in the same order: the same bits
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_leading_sums_of_every_rank_and_row_count_match_the_reference(backend, dtype):
    x, w = sd.tensor("x", ("batch", 4, 5), dtype), sd.tensor("w", (5,), dtype)
    g = sd.tanh(x * w) * x  # stored: the returned array reads it too
    outputs = [g, sd.sum(g, axis=0), sd.sum(g, axis=(0, 1), keepdims=True), sd.exp(sd.sum(g, axis=0)) * w]
    fn = sd.compile([x, w], outputs, backend=backend)
    assert any("sum (4, 5)" in c for c in _loop_comments(fn.source))
    for rows in (0, 1, 6):
        feed = {x: R.standard_normal((rows, 4, 5)).astype(dtype), w: R.standard_normal(5).astype(dtype)}
        feed[x][:, 0, 0] = np.nan if rows == 6 else 0.0  # a nan stays in its entry
        for got, want in zip(fn(feed[x], feed[w]), sd.evaluate(outputs, feed)):
            np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)
