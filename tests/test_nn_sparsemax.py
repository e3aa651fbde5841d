"""Sparsemax against the lecture's sort-based algorithm; its exact Jacobian; the sparsemax loss."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from tests.test_nn_checks import check_second_order


def sparsemax_by_sorting(z):
    """The sort-based algorithm, row by row: sort descending, find k(z), threshold tau, clip."""
    out = np.empty_like(z)
    for r, row in enumerate(z.reshape(-1, z.shape[-1])):
        desc = np.sort(row)[::-1]
        cumulative = np.cumsum(desc)
        k = np.arange(1, len(row) + 1)
        k_z = k[1 + k * desc > cumulative][-1]
        tau = (cumulative[k_z - 1] - 1) / k_z
        out.reshape(-1, z.shape[-1])[r] = np.maximum(row - tau, 0)
    return out


ROWS = np.array([
    [1.0, 2.0, 0.5, 1.9, -1.0],   # support {1, 3}
    [0.2, 0.25, 0.3, 0.4, 0.5],   # everything in the support
    [3.0, 0.0, 0.0, -1.0, 0.2],   # a single winner
    [0.5, 0.5, 0.1, 0.5, -2.0],   # a tie inside the support
    [1.0, 1.0, 0.0, 0.0, 0.0],    # a tie at the top
    [0.1, 0.2, 0.3, 0.4, 0.5],    # entry 0 exactly on the edge of the support (z_0 = tau)
])


def test_matches_the_sort_based_algorithm():
    rng = np.random.default_rng(0)
    Z = np.concatenate([ROWS, rng.normal(scale=2.0, size=(20, 5))])
    z = sd.tensor("z", ("batch", 5))
    p = sd.evaluate(nn.sparsemax(z), {z: Z})
    np.testing.assert_allclose(p, sparsemax_by_sorting(Z), atol=1e-12)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    assert np.all(p >= 0) and np.sum(p == 0) > Z.size // 4  # sparse
    np.testing.assert_allclose(p[:3], [[0, 0.55, 0, 0.45, 0], [0.07, 0.12, 0.17, 0.27, 0.37], [1, 0, 0, 0, 0]], atol=1e-12)


def test_follows_softmax_ordering():
    Z = np.random.default_rng(1).normal(size=(6, 7))
    z = sd.tensor("z", Z.shape)
    sparse, soft = sd.evaluate([nn.sparsemax(z), sd.softmax(z)], {z: Z})
    for s, q in zip(sparse, soft):
        # Wherever softmax ranks i above j, sparsemax gives i at least as much.
        assert np.all((q[:, None] > q[None, :]) <= (s[:, None] >= s[None, :]))


def test_other_axis_and_batched_dims():
    Z = np.random.default_rng(2).normal(size=(4, 3, 2))
    z = sd.tensor("z", Z.shape)
    got = sd.evaluate(nn.sparsemax(z, axis=0), {z: Z})
    np.testing.assert_allclose(got, np.moveaxis(sparsemax_by_sorting(np.moveaxis(Z, 0, -1)), -1, 0), atol=1e-12)


def test_jacobian_is_exact_and_matches_finite_differences():
    z = sd.tensor("z", (5,))
    Z = ROWS[0]
    p = nn.sparsemax(z)
    jacobian = np.array([sd.evaluate(sd.grad(p[i], z), {z: Z}) for i in range(5)])
    s = (sparsemax_by_sorting(Z) > 0).astype(float)
    np.testing.assert_allclose(jacobian, np.diag(s) - np.outer(s, s) / s.sum(), atol=1e-15)
    Zs = ROWS[:5]  # every entry away from a support change
    zs = sd.tensor("zs", Zs.shape)
    weighted = sd.sum(nn.sparsemax(zs) * sd.constant(np.arange(25.0).reshape(5, 5)))
    sd.check_grad(weighted, [zs], {zs: Zs})
    check_second_order(weighted, [zs], {zs: Zs})


def test_extreme_logits_stay_finite():
    Z = np.array([[1000.0, -1000.0, 999.5], [-1000.0, -1000.0, -1000.0]])
    z = sd.tensor("z", Z.shape)
    p, g = sd.evaluate([nn.sparsemax(z), sd.grad(sd.sum(nn.sparsemax(z)[:, 0]), z)], {z: Z})
    np.testing.assert_allclose(p, [[0.75, 0, 0.25], [1 / 3, 1 / 3, 1 / 3]])
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize(("logits", "label", "expected"), [
    ([1.0, 0.0], 0, 0.0),              # sparsemax = (1, 0) puts all mass on the label
    ([0.0, 0.0], 0, 0.25),             # tau = -1/2: -0 + (0 - 1/4 + 0 - 1/4)/2 + 1/2
    ([0.0, 2.0, -1.0], 0, 2.0),        # S = {1}, tau = 1: -0 + (4 - 1)/2 + 1/2
])
def test_sparsemax_loss_hand_computed(logits, label, expected):
    z = sd.tensor("z", (1, len(logits)))
    y = sd.tensor("y", (1,), "int64")
    loss = nn.sparsemax_loss(z, y)
    assert float(sd.evaluate(loss, {z: [logits], y: [label]})) == pytest.approx(expected, abs=1e-12)


def test_sparsemax_loss_gradient_is_sparsemax_minus_onehot():
    rng = np.random.default_rng(3)
    Z, Y = rng.normal(size=(4, 5)), np.array([0, 3, 2, 2])
    z, y = sd.tensor("z", ("batch", 5)), sd.tensor("y", ("batch",), "int64")
    loss = nn.sparsemax_loss(z, y)
    g, value = sd.evaluate([sd.grad(loss, z), loss], {z: Z, y: Y})
    np.testing.assert_allclose(g, (sparsemax_by_sorting(Z) - np.eye(5)[Y]) / 4, atol=1e-14)
    assert value >= 0
    sd.check_grad(loss, [z], {z: Z, y: Y})
    check_second_order(loss, [z], {z: Z, y: Y})
    onehot = sd.tensor("onehot", ("batch", 5))
    assert float(sd.evaluate(nn.sparsemax_loss(z, onehot), {z: Z, onehot: np.eye(5)[Y]})) == pytest.approx(value)


def test_sparsemax_loss_at_extreme_logits():
    Z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]])
    z, y = sd.tensor("z", Z.shape), sd.tensor("y", (2,), "int64")
    loss = nn.sparsemax_loss(z, y)
    value, g = sd.evaluate([loss, sd.grad(loss, z)], {z: Z, y: [1, 0]})
    # Row 0: S = {0}, tau = 999: 1000 + (1000^2 - 999^2)/2 + 1/2 = 2000.
    # Row 1: S = {1, 2}, tau = 999.5: 1000 + (2 * 1000^2 - 2 * 999.5^2)/2 + 1/2 = 2000.25.
    assert float(value) == pytest.approx(2000.125, rel=1e-12)
    assert np.all(np.isfinite(g))
