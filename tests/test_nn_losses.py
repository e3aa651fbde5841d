"""Losses on hand-computed cases, their gradients (first and second order) and extreme logits."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from tests.test_nn_checks import check_second_order

LECTURE_SCORES = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])  # rows: cat, car, frog images
LECTURE_LABELS = np.array([0, 1, 2])


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_squared_error_hand_computed_and_gradient():
    p, t = sd.tensor("p", ("batch", 2)), sd.tensor("t", ("batch", 2))
    P, T = np.array([[1.0, 2.0], [0.0, -1.0]]), np.array([[0.0, 0.0], [1.0, 1.0]])
    loss = nn.squared_error(p, t)
    # Per example: (1 + 4)/2 = 2.5 and (1 + 4)/2 = 2.5.
    assert float(sd.evaluate(loss, {p: P, t: T})) == pytest.approx(2.5)
    np.testing.assert_allclose(sd.evaluate(sd.grad(loss, p), {p: P, t: T}), (P - T) / 2)
    check_second_order(loss, [p, t], {p: P, t: T})


def test_softmax_cross_entropy_labels_and_one_hot_agree_and_match_by_hand():
    z, y = sd.tensor("z", ("batch", 3)), sd.tensor("y", ("batch",), "int64")
    onehot = sd.tensor("onehot", ("batch", 3))
    Z, Y = np.array([[0.0, 0.0, 0.0], [2.0, 1.0, 0.1]]), np.array([1, 0])
    by_label, by_onehot = sd.evaluate([nn.softmax_cross_entropy(z, y), nn.softmax_cross_entropy(z, onehot)],
                                      {z: Z, y: Y, onehot: np.eye(3)[Y]})
    expected = (np.log(3.0) - np.log(_softmax(Z[1])[0])) / 2
    assert float(by_label) == pytest.approx(expected, rel=1e-14)
    assert float(by_onehot) == pytest.approx(expected, rel=1e-14)


def test_softmax_cross_entropy_gradient_is_softmax_minus_onehot_over_batch():
    rng = np.random.default_rng(0)
    Z, Y = rng.normal(size=(5, 4)), np.array([0, 3, 1, 1, 2])
    z, y = sd.tensor("z", ("batch", 4)), sd.tensor("y", ("batch",), "int64")
    loss = nn.softmax_cross_entropy(z, y)
    np.testing.assert_allclose(sd.evaluate(sd.grad(loss, z), {z: Z, y: Y}), (_softmax(Z) - np.eye(4)[Y]) / 5,
                               atol=1e-15)
    sd.check_grad(loss, [z], {z: Z, y: Y})
    check_second_order(loss, [z], {z: Z, y: Y})
    targets = sd.tensor("targets", ("batch", 4))
    soft = _softmax(rng.normal(size=(5, 4)))
    check_second_order(nn.softmax_cross_entropy(z, targets), [z, targets], {z: Z, targets: soft})


def test_binary_cross_entropy_hand_computed_and_gradient():
    x, t = sd.tensor("x", ("batch", 1)), sd.tensor("t", ("batch", 1))
    X, T = np.array([[0.0], [2.0], [-1.0]]), np.array([[1.0], [1.0], [0.0]])
    loss = nn.binary_cross_entropy(x, t)
    sig = 1 / (1 + np.exp(-X))
    expected = np.mean(-T * np.log(sig) - (1 - T) * np.log(1 - sig))
    assert float(sd.evaluate(loss, {x: X, t: T})) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(sd.evaluate(sd.grad(loss, x), {x: X, t: T}), (sig - T) / 3, atol=1e-15)
    check_second_order(loss, [x, t], {x: X, t: T})


def test_multiclass_hinge_on_the_lecture_table():
    s, y = sd.tensor("s", ("batch", 3)), sd.tensor("y", ("batch",), "int64")
    loss = nn.multiclass_hinge(s, y)
    per_example = [float(sd.evaluate(loss, {s: LECTURE_SCORES[i:i + 1], y: LECTURE_LABELS[i:i + 1]}))
                   for i in range(3)]
    np.testing.assert_allclose(per_example, [2.9, 0.0, 12.9], atol=1e-12)
    assert float(sd.evaluate(loss, {s: LECTURE_SCORES, y: LECTURE_LABELS})) == pytest.approx(15.8 / 3)
    sd.check_grad(loss, [s], {s: LECTURE_SCORES, y: LECTURE_LABELS})
    check_second_order(loss, [s], {s: LECTURE_SCORES, y: LECTURE_LABELS})  # piecewise linear: zero Hessian


def test_triplet_loss_hand_computed_and_gradient():
    a, p, n = (sd.tensor(name, ("batch", 2)) for name in ("a", "p", "n"))
    A = np.array([[0.0, 0.0], [1.0, 1.0]])
    P = np.array([[1.0, 0.0], [1.0, 2.0]])
    N = np.array([[0.0, 1.5], [4.0, 5.0]])
    loss = nn.triplet_loss(a, p, n, margin=0.5)
    # Example 0: 1 - 2.25 + 0.5 = -0.75 -> 0. Example 1: 1 - 25 + 0.5 < 0 -> 0.
    assert float(sd.evaluate(loss, {a: A, p: P, n: N})) == 0.0
    N[0] = [0.0, 1.2]  # example 0: 1 - 1.44 + 0.5 = 0.06
    feed = {a: A, p: P, n: N}
    assert float(sd.evaluate(loss, feed)) == pytest.approx(0.03)
    sd.check_grad(loss, [a, p, n], feed)
    check_second_order(loss, [a, p, n], feed)


def test_losses_are_finite_at_extreme_logits():
    Z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]])
    Y = np.array([1, 0])
    z, y = sd.tensor("z", Z.shape), sd.tensor("y", (2,), "int64")
    t = sd.tensor("t", Z.shape)
    T = (Z < 0).astype(float)  # every sign wrong: the worst case
    losses = {
        "softmax_cross_entropy": (nn.softmax_cross_entropy(z, y), (2000.0 + 2000.0 + np.log(2.0)) / 2),
        "binary_cross_entropy": (nn.binary_cross_entropy(z, t), (2000.0 + np.log(2.0) + 3000.0) / 2),
        "multiclass_hinge": (nn.multiclass_hinge(z, y), (2001.0 + 1001.0 + 4002.0) / 2),
    }
    for name, (loss, expected) in losses.items():
        value, g = sd.evaluate([loss, sd.grad(loss, z)], {z: Z, y: Y, t: T})
        assert float(value) == pytest.approx(expected, rel=1e-12), name
        assert np.all(np.isfinite(g)), name


def test_binary_cross_entropy_is_exact_when_confidently_right():
    x, t = sd.tensor("x", (2,)), sd.tensor("t", (2,))
    loss = nn.binary_cross_entropy(x, t)
    value, g = sd.evaluate([loss, sd.grad(loss, x)], {x: [1000.0, -1000.0], t: [1.0, 0.0]})
    assert float(value) == 0.0
    np.testing.assert_array_equal(g, [0.0, 0.0])


def test_shape_errors_name_both_shapes():
    z = sd.tensor("z", ("batch", 3))
    with pytest.raises(sd.ShapeError, match=r"labels have shape \(4,\); expected \('batch',\)"):
        nn.softmax_cross_entropy(z, sd.tensor("y4", (4,), "int64"))
    with pytest.raises(sd.ShapeError, match=r"predictions has shape \('batch', 3\) but targets .*\(3,\)"):
        nn.squared_error(z, sd.tensor("t3", (3,)))
    with pytest.raises(TypeError, match="labels must be integers"):
        nn.multiclass_hinge(z, sd.tensor("yf", ("batch",)))


def test_check_labels_names_the_bad_label():
    assert nn.check_labels([0, 2, 1], 3).dtype == np.int64
    np.testing.assert_array_equal(nn.check_labels(np.array([1.0, 2.0]), 3), [1, 2])
    with pytest.raises(ValueError, match=r"y: label 3 at index \(2,\) is out of range \[0, 3\) \(1 of 3"):
        nn.check_labels([0, 1, 3], 3, name="y")
    with pytest.raises(ValueError, match=r"label -1 at index \(1, 0\)"):
        nn.check_labels([[0], [-1]], 2)
    with pytest.raises(TypeError, match="must be integers, got dtype float64"):
        nn.check_labels([0.5], 2)
