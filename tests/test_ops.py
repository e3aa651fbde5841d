"""Every op in the op table: value vs NumPy, gradient and second derivative vs finite differences."""

import numpy as np
import pytest

import symdiff as sd
from symdiff.ops import OPS
from tests.op_cases import CASES


def _loss(case, nodes, seed=1):
    """A scalar that weights every output entry differently, so no gradient entry hides behind a sum."""
    out = case.build(*nodes)
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, size=[case.dims.get(d, 4) if isinstance(d, str) else d
                                                                   for d in out.shape])
    return sd.sum(sd.cast(out, "float64") * sd.constant(weights)), out


def test_every_op_has_a_row():
    covered = {op for case in CASES for op in case.ops}
    builtin = {name for name in OPS if not name.startswith("user.")}  # sd.nn.elementwise registers user ops
    missing = sorted(builtin - covered - {"input", "constant"})
    assert not missing, f"ops without a test row: {missing}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_value_matches_numpy(case):
    nodes, values = case.tensors(), case.values()
    got = sd.evaluate(case.build(*nodes), dict(zip(nodes, values)))
    np.testing.assert_allclose(got, case.reference(*values), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c.smooth], ids=lambda c: c.id)
def test_gradient_matches_finite_differences(case):
    nodes, values = case.tensors(), case.values()
    loss, _ = _loss(case, nodes)
    floats = [n for n in nodes if n.dtype == "float64"]
    sd.check_grad(loss, floats, dict(zip(nodes, values)), eps=1e-6, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", [c for c in CASES if c.smooth], ids=lambda c: c.id)
def test_second_derivative_matches_finite_differences(case):
    nodes, values = case.tensors(), case.values()
    loss, _ = _loss(case, nodes)
    floats = [n for n in nodes if n.dtype == "float64"]
    grads = sd.grad(loss, floats)
    # Its gradient is the Hessian applied to x-dependent directions (plus a first-order term).
    directional = sd.add(0.0, sum(sd.sum(g * sd.cos(3.0 * x + 1.0)) for g, x in zip(grads, floats)))
    sd.check_grad(directional, floats, dict(zip(nodes, values)), eps=1e-5, rtol=1e-5, atol=1e-7)


def test_stop_gradient_blocks_gradient():
    x = sd.tensor("x", (3,))
    g = sd.grad(sd.sum(x * sd.stop_gradient(x)), x)
    X = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(sd.evaluate(g, {x: X}), X)


def test_non_smooth_ops_follow_the_midpoint_convention():
    x = sd.tensor("x", (3,))
    X = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(sd.evaluate(sd.grad(sd.sum(sd.abs(x)), x), {x: X}), [-1, 0, 1])
    np.testing.assert_array_equal(sd.evaluate(sd.grad(sd.sum(sd.maximum(x, 0.0)), x), {x: X}), [0, 0.5, 1])
    np.testing.assert_array_equal(sd.evaluate(sd.grad(sd.sum(sd.sign(x)), x), {x: X}), [0, 0, 0])
    y = sd.tensor("y", (4,))
    g = sd.evaluate(sd.grad(sd.max(y), y), {y: np.array([1.0, 3.0, 3.0, 0.0])})
    np.testing.assert_array_equal(g, [0, 0.5, 0.5, 0])


def test_softmax_is_stable_at_extreme_logits():
    x = sd.tensor("x", (2, 3))
    X = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -999.0]])
    ls, g = sd.evaluate([sd.log_softmax(x), sd.grad(sd.sum(sd.log_softmax(x)[:, 0]), x)], {x: X})
    assert np.all(np.isfinite(ls)) and np.all(np.isfinite(g))
    np.testing.assert_allclose(ls[0], [0.0, -1000.0, -2000.0])
    np.testing.assert_allclose(sd.evaluate(sd.logsumexp(x), {x: X}), np.log(np.exp(X - X.max(1, keepdims=True))
                                                                           .sum(1)) + X.max(1))


def test_ellipsis_indexing():
    x = sd.tensor("x", (2, 3, 4))
    X = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(sd.evaluate(x[..., 0], {x: X}), X[..., 0])
    np.testing.assert_array_equal(sd.evaluate(x[0, ..., 1:], {x: X}), X[0, ..., 1:])


def test_float32_graphs_stay_float32():
    x = sd.tensor("x", (3,), "float32")
    y = sd.sum(sd.tanh(x) * 2.0 + 1)
    assert y.dtype == "float32" and sd.grad(y, x).dtype == "float32"
    out = sd.evaluate(sd.grad(y, x), {x: np.ones(3, np.float32)})
    assert out.dtype == np.float32
