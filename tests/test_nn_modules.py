"""The RBF layer (and k-means centers) and inverted dropout."""

import re

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from tests.test_nn_checks import check_second_order


def test_rbf_values_and_derivatives():
    layer = nn.RBF(2, 3, 2)
    assert set(layer.parameters) == {layer.centers.name, layer.beta.name, layer.u.name}
    assert list(layer.weights) == [layer.u.name]
    x = sd.tensor("x", ("batch", 2))
    X = np.random.default_rng(0).normal(size=(4, 2))
    feed = layer.init(0) | {"x": X}
    W, beta, u = feed[layer.centers.name], feed[layer.beta.name], feed[layer.u.name]
    expected = np.exp(-beta * ((X[:, None, :] - W[None]) ** 2).sum(-1)) @ u
    np.testing.assert_allclose(sd.evaluate(layer(x), feed), expected, rtol=1e-14)
    loss = sd.sum(layer(x) ** 2)
    params = [layer.centers, layer.beta, layer.u, x]
    sd.check_grad(loss, params, feed)
    check_second_order(loss, params, feed)


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(1)
    truth = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 4.0]])
    data = np.concatenate([c + 0.1 * rng.normal(size=(30, 2)) for c in truth])
    centers = nn.kmeans(data, 3, seed=2)
    matched = np.sort(np.argmin(((centers[:, None] - truth[None]) ** 2).sum(-1), axis=1))
    np.testing.assert_array_equal(matched, [0, 1, 2])
    assert np.abs(np.sort(centers, axis=0) - np.sort(truth, axis=0)).max() < 0.1
    np.testing.assert_array_equal(nn.kmeans(data, 3, seed=2), centers)  # deterministic for a seed
    with pytest.raises(ValueError, match=r"at least k=3 rows, got shape \(2, 2\)"):
        nn.kmeans(data[:2], 3)


def test_rbf_centers_from_data():
    layer = nn.RBF(1, 2, 1)
    data = np.array([[0.0], [0.1], [4.0], [4.1]])
    values = layer.init_from_data(data, seed=0)
    np.testing.assert_allclose(np.sort(values[layer.centers.name].ravel()), [0.05, 4.05])
    np.testing.assert_allclose(values[layer.beta.name], [1 / (2 * 16.0)] * 2)
    assert values[layer.u.name].shape == (2, 1)
    with pytest.raises(ValueError, match=r"data must have shape \(n, 1\), got \(4, 2\)"):
        layer.init_from_data(np.zeros((4, 2)))


def test_dropout_keeps_the_expected_activation_and_drops_the_rate():
    layer = nn.Dropout(0.3)
    x = sd.tensor("x", ("batch", 500))
    out = sd.evaluate(layer(x, training=True), {"x": np.ones((200, 500)), "dropout_seed": 11})
    kept = out != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.007)  # 100,000 draws: about 5 standard deviations
    np.testing.assert_allclose(out[kept], 1 / 0.7)
    assert out.mean() == pytest.approx(1.0, abs=0.01)


def test_dropout_is_the_identity_at_inference_and_at_rate_zero():
    x = sd.tensor("x", ("batch", 3))
    assert nn.Dropout(0.5)(x) is x
    assert nn.Dropout(0.5)(x, training=False) is x
    assert nn.Dropout(0.0)(x, training=True) is x


def test_dropout_masks_are_reproducible_and_differ_between_layers_and_seeds():
    first, second = nn.Dropout(0.5), nn.Dropout(0.5)
    x = sd.tensor("x", (8, 8))
    ones = np.ones((8, 8))
    a, b, c = sd.evaluate([first(x, training=True), first(x, training=True), second(x, training=True)],
                          {"x": ones, "dropout_seed": 5})
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    again = sd.evaluate(first(x, training=True), {"x": ones, "dropout_seed": 5})
    other = sd.evaluate(first(x, training=True), {"x": ones, "dropout_seed": 6})
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, other)


def test_dropout_gradient_is_the_scaled_mask():
    layer = nn.Dropout(0.25)
    x = sd.tensor("x", (3, 4))
    X = np.random.default_rng(3).normal(size=(3, 4))
    out = layer(x, training=True)
    feed = {"x": X, "dropout_seed": 2}
    mask = sd.evaluate(out, feed) / X
    np.testing.assert_allclose(sd.evaluate(sd.grad(sd.sum(out), x), feed), mask)
    sd.check_grad(sd.sum(sd.tanh(out)), [x], feed)
    check_second_order(sd.sum(sd.tanh(out)), [x], feed)


def test_dropout_rate_and_seed_errors_name_the_layer():
    for rate in (1.0, -0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match=rf"Dropout\('drop_bad'\): rate must be a number in \[0, 1\), got {rate!r}"):
            nn.Dropout(rate, name="drop_bad")
    with pytest.raises(TypeError, match=r"Dropout\('drop_seed'\): seed must be an integer scalar"):
        nn.Dropout(0.5, seed=sd.scalar("s"), name="drop_seed")
    with pytest.raises(TypeError, match=r"seed must be an integer scalar tensor, got 3"):
        nn.Dropout(0.5, seed=3)


def test_dropout_takes_any_real_rate_and_refuses_others_naming_them():
    from fractions import Fraction

    for rate in (np.float32(0.5), np.float64(0.25), np.int64(0), Fraction(1, 4)):
        assert nn.Dropout(rate, name="drop_real").rate == float(rate)
    assert type(nn.Dropout(np.float32(0.5), name="drop_real").rate) is float
    for rate in (np.float32(1.0), np.float64(-0.5), float("nan"), True, np.bool_(False), 0.5j, None):
        with pytest.raises(ValueError, match=rf"Dropout\('drop_bad'\): rate must be a number in \[0, 1\), got "
                                             rf"{re.escape(repr(rate))}"):
            nn.Dropout(rate, name="drop_bad")
