"""Activations: values against NumPy, first and second derivatives, the kink convention, lookup by name."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from tests.test_nn_checks import check_second_order


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


REFERENCES = {
    "identity": lambda z: z,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "softmax": _softmax,
    "log_softmax": lambda z: np.log(_softmax(z)),
    "l2_normalize": lambda z: z / np.linalg.norm(z, axis=-1, keepdims=True),
}
# Inputs kept away from 0, where relu, leaky_relu and elu have kinks.
Z = np.array([[0.7, -1.3, 2.1, -0.4], [-2.2, 0.9, 0.3, 1.6]])


def _weighted(out):
    return sd.sum(out * sd.constant(np.linspace(0.5, 1.5, out.shape[-1])))


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_activation_values_and_derivatives(name):
    z = sd.tensor("z", Z.shape)
    out = nn.get_activation(name)(z)
    np.testing.assert_allclose(sd.evaluate(out, {z: Z}), REFERENCES[name](Z), rtol=1e-12, atol=1e-12)
    sd.check_grad(_weighted(out), [z], {z: Z}, rtol=1e-6)
    check_second_order(_weighted(out), [z], {z: Z}, eps=1e-5, rtol=1e-5, atol=1e-7)


def test_kinks_take_the_midpoint_of_the_one_sided_derivatives():
    x = sd.tensor("x", (3,))
    X = np.array([-1.0, 0.0, 2.0])
    cases = {
        "relu": (nn.relu(x), [0.0, 0.5, 1.0]),
        "leaky_relu": (nn.leaky_relu(x, 0.2), [0.2, 0.6, 1.0]),
        "elu": (nn.elu(x, 0.5), [0.5 * np.exp(-1.0), 0.75, 1.0]),
    }
    for name, (out, expected) in cases.items():
        np.testing.assert_allclose(sd.evaluate(sd.grad(sd.sum(out), x), {x: X}), expected, err_msg=name)


def test_leaky_relu_and_elu_options():
    x = sd.tensor("x", (2,))
    X = np.array([-2.0, 3.0])
    np.testing.assert_allclose(sd.evaluate(nn.get_activation("leaky_relu", alpha=0.3)(x), {x: X}), [-0.6, 3.0])
    np.testing.assert_allclose(sd.evaluate(nn.elu(x, 2.0), {x: X}), [2.0 * np.expm1(-2.0), 3.0])


def test_elu_is_finite_at_huge_inputs():
    x = sd.tensor("x", (2,))
    out, g = sd.evaluate([nn.elu(x), sd.grad(sd.sum(nn.elu(x)), x)], {x: np.array([1000.0, -1000.0])})
    np.testing.assert_allclose(out, [1000.0, -1.0])
    np.testing.assert_allclose(g, [1.0, 0.0])


def test_l2_normalize_gives_unit_rows():
    x = sd.tensor("x", ("batch", 3))
    out = sd.evaluate(nn.l2_normalize(x), {x: np.array([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0]])})
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), [1.0, 1.0])
    np.testing.assert_allclose(out[0], [0.6, 0.8, 0.0])


def test_unknown_activation_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown activation 'swishy'.*relu.*tanh"):
        nn.get_activation("swishy")
    with pytest.raises(ValueError, match="nn.PReLU"):
        nn.get_activation("prelu")


def test_register_activation_refuses_a_taken_name():
    with pytest.raises(ValueError, match="'tanh' is taken"):
        nn.register_activation("tanh", nn.relu)
