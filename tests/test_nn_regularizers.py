"""Weight penalties: values, weights-only selection, gradients when added to a loss."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from tests.test_nn_checks import check_second_order


def _model_and_values():
    model = nn.Sequential([nn.Dense(2, 3, "tanh"), nn.PReLU(3), nn.Dense(3, 1)])
    values = model.init(0)
    for name in values:  # nonzero biases and slopes, to show that they are left alone
        values[name] = values[name] + 0.5
    return model, values


def test_penalties_cover_weights_only():
    model, values = _model_and_values()
    W1, W2 = (values[layer.W.name] for layer in (model.layers[0], model.layers[2]))
    expected_l2 = np.sum(W1**2) + np.sum(W2**2)
    expected_l1 = np.sum(np.abs(W1)) + np.sum(np.abs(W2))
    l2, l1, both = sd.evaluate([nn.l2(model, 0.1), nn.l1(model, 0.2), nn.elastic_net(model, 0.2, 0.1)], values)
    assert float(l2) == pytest.approx(0.1 * expected_l2)
    assert float(l1) == pytest.approx(0.2 * expected_l1)
    assert float(both) == pytest.approx(0.1 * expected_l2 + 0.2 * expected_l1)


def test_l2_gradient_is_weight_decay_and_biases_get_none():
    model, values = _model_and_values()
    first = model.layers[0]
    penalty = nn.l2(model, 0.05)
    gW, gb = sd.evaluate(sd.grad(penalty, [first.W, first.b]), values)
    np.testing.assert_allclose(gW, 0.1 * values[first.W.name])
    np.testing.assert_array_equal(gb, np.zeros(3))


def test_penalties_added_to_a_loss_have_checked_gradients():
    model, values = _model_and_values()
    x, y = sd.tensor("x", ("batch", 2)), sd.tensor("y", ("batch", 1))
    loss = nn.squared_error(model(x), y) + nn.elastic_net(model, 0.01, 0.02)
    rng = np.random.default_rng(1)
    feed = values | {"x": rng.normal(size=(4, 2)), "y": rng.normal(size=(4, 1))}
    params = list(model.parameters.values())
    sd.check_grad(loss, params, feed)
    smooth = nn.squared_error(model(x), y) + nn.l2(model, 0.02)
    check_second_order(smooth, params, feed, eps=1e-5, rtol=1e-5, atol=1e-7)


def test_penalties_of_given_tensors():
    a, b = sd.tensor("a", (2,)), sd.tensor("b", (1,))
    feed = {a: np.array([1.0, -2.0]), b: np.array([3.0])}
    assert float(sd.evaluate(nn.l2([a, b], 1.0), feed)) == 14.0
    assert float(sd.evaluate(nn.l1({"a": a}, 0.5), feed)) == 1.5
    assert float(sd.evaluate(nn.l2([], 1.0), {})) == 0.0
