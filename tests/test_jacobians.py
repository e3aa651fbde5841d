"""Vectorized Jacobians and Hessians (issue 14): one pass carries every row (reverse) or column (forward) with a
leading batch axis. Every op row of the op table: both modes against the row-by-row construction and central
differences; compiled against the reference; graph sizes independent of the number of parameters."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from tests.op_cases import CASES

FLOAT_CASES = [c for c in CASES if any(k not in c.int_inputs for k in range(len(c.shapes)))]


def _rows(y: sd.Node, x: sd.Node) -> sd.Node:
    """The Jacobian one reverse pass per entry of y (the construction vectorization replaces)."""
    flat = sd.reshape(y, (-1,))
    rows = [sd.reshape(sd.grad(flat[i], x), (1,) + x.shape) for i in range(flat.shape[0])]
    stacked = sd.concatenate(rows, axis=0) if len(rows) > 1 else rows[0]
    return sd.reshape(stacked, y.shape + x.shape)


def _central(y: sd.Node, x: sd.Node, feed: dict, eps: float = 1e-6) -> np.ndarray:
    base = feed[x]
    out = np.empty(np.shape(sd.evaluate(y, feed)) + base.shape)
    for index in np.ndindex(base.shape):
        step = np.zeros_like(base)
        step[index] = eps
        hi, lo = (sd.evaluate(y, {**feed, x: base + s}) for s in (step, -step))
        out[(...,) + index] = (hi - lo) / (2 * eps)
    return out


@pytest.mark.parametrize("case", FLOAT_CASES, ids=lambda c: c.id)
def test_every_op_jacobian_in_both_modes_matches_the_row_by_row_one(case):
    nodes, values = case.tensors(), case.values(seed=4)
    y = case.build(*nodes)
    if y.dtype not in ("float32", "float64") or any(isinstance(d, str) for d in y.shape):
        pytest.skip("integer output or named dims")
    feed = dict(zip(nodes, values))
    for k, x in enumerate(nodes):
        if k in case.int_inputs or any(isinstance(d, str) for d in x.shape):
            continue
        want = sd.evaluate(_rows(y, x), feed)
        for mode in ("reverse", "forward"):
            got = sd.evaluate(sd.jacobian(y, x, mode=mode), feed)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"{mode} d/d{x.name}")
        if case.smooth:
            np.testing.assert_allclose(want, _central(y, x, feed), rtol=1e-5, atol=1e-6)


def test_jacobians_of_every_op_compile_to_the_reference():
    inputs, outputs, feed = [], [], {}
    for case in FLOAT_CASES:
        nodes, values = case.tensors(), case.values(seed=5)
        y = case.build(*nodes)
        if y.dtype != "float64" or any(isinstance(d, str) for d in y.shape + nodes[0].shape) or 0 in case.int_inputs:
            continue
        inputs += nodes
        feed.update(zip(nodes, values))
        outputs += [sd.jacobian(y, nodes[0], mode="reverse"), sd.jacobian(y, nodes[0], mode="forward")]
    fn = sd.compile(inputs, outputs)
    for got, want in zip(fn(*[feed[n] for n in inputs]), sd.evaluate(outputs, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def _logistic(d: int):
    X, w = sd.tensor("X", ("n", d)), sd.tensor("w", (d,))
    return X, w, sd.mean(sd.softplus(X @ w)) + 0.5 * 1e-2 * sd.sum(w * w)


def test_hessian_graph_size_does_not_grow_with_the_number_of_parameters():
    counts = {d: sd.count_nodes(sd.hessian(_logistic(d)[2], _logistic(d)[1])) for d in (10, 100, 1000)}
    assert len(set(counts.values())) == 1, counts


def test_logistic_hessian_is_right_and_compiles():
    X, w, f = _logistic(6)
    r = np.random.default_rng(0)
    feed = {X: r.normal(size=(9, 6)), w: r.normal(size=6)}
    H = sd.hessian(f, w)
    s = 1 / (1 + np.exp(-feed[X] @ feed[w]))
    want = feed[X].T @ ((s * (1 - s))[:, None] * feed[X]) / 9 + 1e-2 * np.eye(6)
    np.testing.assert_allclose(sd.evaluate(H, feed), want, rtol=1e-12)
    np.testing.assert_allclose(sd.compile([X, w], H)(feed[X], feed[w]), want, rtol=1e-12)


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "squared_error", "binary_cross_entropy", "multiclass_hinge"])
def test_hessians_of_the_losses_match_differences_of_their_gradients(loss):
    scores = sd.tensor("scores", (3, 4))
    r = np.random.default_rng(1)
    if loss in ("softmax_cross_entropy", "multiclass_hinge"):
        targets, target_value = sd.tensor("labels", (3,), "int64"), r.integers(0, 4, 3)
    elif loss == "binary_cross_entropy":
        targets, target_value = sd.tensor("t", (3, 4)), r.integers(0, 2, (3, 4)).astype(float)
    else:
        targets, target_value = sd.tensor("t", (3, 4)), r.normal(size=(3, 4))
    f = getattr(nn, loss)(scores, targets)
    feed = {scores: r.normal(size=(3, 4)), targets: target_value}
    H = sd.evaluate(sd.hessian(f, scores), feed)
    np.testing.assert_allclose(H, _central(sd.grad(f, scores), scores, feed), rtol=1e-5, atol=1e-6)


def test_hessian_of_a_dense_tanh_network_matches_differences_of_its_gradient():
    x = sd.tensor("x", (5, 3))
    model = nn.Dense(3, 2, activation="tanh", name="h")
    f = sd.sum(model(x) ** 2)
    (param,) = [p for p in model.parameters.values() if p.ndim == 2]
    r = np.random.default_rng(2)
    feed = {x: r.normal(size=(5, 3)), **{p: r.normal(size=p.shape) * 0.5 for p in model.parameters.values()}}
    H = sd.evaluate(sd.hessian(f, param), feed)
    np.testing.assert_allclose(H, _central(sd.grad(f, param), param, feed), rtol=1e-5, atol=1e-6)


def test_hessians_simplify_to_closed_forms():
    x, A = sd.tensor("x", (4,)), sd.tensor("A", (4, 4))
    assert sd.formula(sd.hessian(x @ (A @ x), x)) == "Aᵀ + A"
    X, w, f = _logistic(12)  # a 12 x 12 Hessian: more entries than a loop nest computes (plan.SMALL_OUTPUT)
    text = sd.formula(sd.hessian(f, w))
    # one weighted Gram product plus the ridge: (X^T * s * (1 - s) / n) @ X + I/100, no identity left in a product
    assert text.endswith("\n(Xᵀ ⊙ t2 ⊙ (1 - t2)/n) @ X + I/100"), text
    compiled = sd.compile([X, w], sd.hessian(f, w))
    calls = [line[4:9] for line in compiled.source.splitlines() if line.startswith(("    gemm(", "    gram("))]
    # X @ w (12 terms per entry) is computed by the loop that reads it; the Gram product is one symmetric call: no
    # per-column products
    assert calls == ["gram("]
