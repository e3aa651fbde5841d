"""Derivatives at points where the chain rule, applied as written, multiplies 0 by an infinity: the derived graph
must give the derivative (as central differences, JAX and PyTorch do), in sd.evaluate and on both backends."""

import numpy as np
import pytest

import symdiff as sd

BACKENDS = ["native", "numba"]


def _everywhere(inputs, outputs, values):
    """The outputs by sd.evaluate and compiled on each backend (nan/inf warnings silenced: they are the bug)."""
    with np.errstate(all="ignore"):
        results = [sd.evaluate(outputs, dict(zip(inputs, values)))]
        results += [sd.compile(inputs, outputs, backend=b)(*values) for b in BACKENDS]
    return results


def test_power_slopes_at_a_zero_base_and_a_zero_exponent():
    # d/dp sum(x ** p) was nan with a 0 in x (0 * log 0), d/dx x ** p nan at x = 0 with p = 0 (0 * 0 ** -1)
    x, p = sd.tensor("x", (4,)), sd.scalar("p")
    X = np.array([0.0, 0.5, 1.0, 2.0])
    loss = sd.sum(x ** p)
    outputs = [sd.grad(loss, p), sd.grad(loss, x)]
    for exponent, slope_p, slope_x in [(2.0, np.sum(X[1:] ** 2 * np.log(X[1:])), 2 * X),
                                       (0.0, np.sum(np.log(X[1:])), np.zeros(4))]:
        for got_p, got_x in _everywhere([x, p], outputs, [X, exponent]):
            np.testing.assert_allclose(got_p, slope_p, rtol=1e-14)
            np.testing.assert_allclose(got_x, slope_x, rtol=1e-14)


def test_power_guards_keep_the_mixed_second_derivative():
    # the zero-exponent guard cut d/db of the slope in a: at b = 0 the Hessian of a ** b had 0 (not 1 / a) in one
    # mixed entry and was not symmetric; both mixed entries are a ** (b - 1) * (1 + b log a)
    v = sd.tensor("v", (2,))
    hessian = sd.hessian(v[0] ** v[1], v)
    for base, exponent in [(2.0, 0.0), (0.5, 0.0), (3.0, 1.5)]:
        mixed = base ** (exponent - 1) * (1 + exponent * np.log(base))
        for got, in _everywhere([v], [hessian], [np.array([base, exponent])]):
            np.testing.assert_allclose(got[0, 1], mixed, rtol=1e-14)
            np.testing.assert_allclose(got[1, 0], mixed, rtol=1e-14)


def test_constant_exponents_keep_the_plain_derivative():
    x = sd.tensor("x", (3,))
    assert "where" not in sd.formula(sd.grad(sd.sum(x ** 3), x))
    assert "where" not in sd.formula(sd.grad(sd.sum(2.0 ** x), x))


@pytest.mark.parametrize("case", ["softmax", "sigmoid", "exp"])
def test_logs_of_probabilities_keep_finite_gradients_where_they_underflow(case):
    # the compiled value was stabilized (log(softmax) -> log_softmax) but sd.grad differentiated log(p) as
    # written: p' / p = 0 / 0, a nan gradient with a finite loss
    z = sd.tensor("z", (3,))
    Z = np.array([0.0, 800.0, 1.0])
    shifted = np.exp(Z - Z.max())
    loss, slope = {
        "softmax": (-sd.log(sd.softmax(z))[0], shifted / shifted.sum() - [1.0, 0.0, 0.0]),
        "sigmoid": (sd.sum(sd.log(sd.sigmoid(-z))), -np.exp(-np.logaddexp(0.0, -Z))),
        "exp": (sd.sum(sd.log(sd.exp(z))), np.ones(3)),
    }[case]
    value = {"softmax": 800.0, "sigmoid": -np.sum(np.logaddexp(0.0, Z)), "exp": 801.0}[case]
    for got_value, got_slope in _everywhere([z], [loss, sd.grad(loss, z)], [Z]):
        np.testing.assert_allclose(got_value, value, rtol=1e-15)
        np.testing.assert_allclose(got_slope, slope, rtol=1e-15, atol=1e-300)
