"""Function transforms (issue 15 point 11): sd.grad(f), sd.value_and_grad(f) and sd.jit(f) trace a Python function
once per signature, derive symbolically, compile one kernel, and keep the derived graph inspectable."""

import numpy as np
import pytest

import symdiff as sd

R = np.random.default_rng(0)


def loss(w, x, y):
    return np.mean((np.tanh(x @ w) - y) ** 2) + 0.01 * np.sum(w * w)


def _reference_gradient(w, x, y):
    t = np.tanh(x @ w)
    return x.T @ (2 * (t - y) * (1 - t * t)) / len(y) + 0.02 * w


def test_grad_of_a_function_matches_the_hand_derivative_and_is_cached_per_signature():
    g = sd.grad(loss)
    w, x, y = R.standard_normal(3), R.standard_normal((5, 3)), R.standard_normal(5)
    np.testing.assert_allclose(g(w, x, y), _reference_gradient(w, x, y), rtol=1e-12)
    first = g.compiled(w, x, y)
    g(w, x, y)
    assert g.compiled(w, x, y) is first  # same signature: no new trace or compile
    x8, y8 = R.standard_normal((8, 3)), R.standard_normal(8)
    np.testing.assert_allclose(g(w, x8, y8), _reference_gradient(w, x8, y8), rtol=1e-12)
    assert g.compiled(w, x8, y8) is not first and "2 signatures" in repr(g)


def test_value_and_grad_with_several_argnums_and_the_formula():
    vg = sd.value_and_grad(loss, argnums=(0, 2))
    w, x, y = R.standard_normal(3), R.standard_normal((4, 3)), R.standard_normal(4)
    value, (dw, dy) = vg(w, x, y)
    assert value == pytest.approx(loss(w, x, y), rel=1e-13)
    np.testing.assert_allclose(dw, _reference_gradient(w, x, y), rtol=1e-12)
    np.testing.assert_allclose(dy, -2 * (np.tanh(x @ w) - y) / 4, rtol=1e-12)
    text = vg.formula(w, x, y)
    assert "tanh" in text and "w" in text  # parameter names name the inputs


def test_jit_returns_what_the_function_returns_and_grad_of_grad_works():
    f = sd.jit(lambda a, b: (a * b, np.exp(a).sum()))
    a, b = R.standard_normal(3), R.standard_normal(3)
    prod, total = f(a, b)
    np.testing.assert_allclose(prod, a * b)
    assert total == pytest.approx(np.exp(a).sum())
    single = sd.jit(lambda a: a * 2.0)
    np.testing.assert_allclose(single(a), 2 * a)
    second = sd.grad(lambda t: sd.grad(sd.sin(t) * t, t))  # d/dt (t cos t + sin t) = 2 cos t - t sin t
    assert second(0.3) == pytest.approx(2 * np.cos(0.3) - 0.3 * np.sin(0.3), rel=1e-13)


def test_clear_errors():
    with pytest.raises(sd.ShapeError, match="one floating-point scalar"):
        sd.grad(lambda a: a * 2.0)(np.ones(3))
    with pytest.raises(TypeError, match="takes 1 arguments"):
        sd.grad(lambda a: sd.sum(a))(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="must return a symdiff node"):
        sd.jit(lambda a: 3.0)(np.ones(3))
    with pytest.raises(ValueError, match="argnums 1"):
        sd.grad(lambda a, n: sd.sum(a) * 2.0, argnums=1)(np.ones(3), np.int64(2))
    with pytest.raises(TypeError, match="pass argnums"):
        sd.grad(loss, [0])
    x = sd.tensor("x", (3,))
    np.testing.assert_allclose(sd.evaluate([sd.grad(sd.sum(x * x), x)], {x: np.ones(3)})[0], 2.0)


def test_transforms_compose_as_in_jax():
    # a transformed function called on symbolic tensors (inside another transform) returns its derived graph; it
    # turned the tensors into an object array and raised "dtype object is not supported"
    f = lambda x: np.sum(np.sin(x) * x)  # noqa: E731
    x0 = np.array([0.5, 1.0, -0.3])
    second = sd.grad(lambda x: np.sum(sd.grad(f)(x)))  # d/dx_i of sum_j df/dx_j = 2 cos x - x sin x
    np.testing.assert_allclose(second(x0), 2 * np.cos(x0) - x0 * np.sin(x0), rtol=1e-13)
    nested = sd.grad(sd.grad(lambda t: np.sin(t) * t))
    assert nested(0.5) == pytest.approx(2 * np.cos(0.5) - 0.5 * np.sin(0.5), rel=1e-13)
    jitted = sd.jit(sd.grad(f))
    np.testing.assert_allclose(jitted(x0), np.cos(x0) * x0 + np.sin(x0), rtol=1e-13)
    value, gradient = sd.jit(lambda w, x, y: sd.value_and_grad(loss)(w, x, y))(np.ones(3), np.ones((4, 3)),
                                                                              np.zeros(4))
    assert value == pytest.approx(loss(np.ones(3), np.ones((4, 3)), np.zeros(4)), rel=1e-13)
    np.testing.assert_allclose(gradient, _reference_gradient(np.ones(3), np.ones((4, 3)), np.zeros(4)), rtol=1e-12)
    constant_argument = sd.jit(lambda x: sd.grad(loss)(x, np.ones((2, 3)), np.zeros(2)))  # NumPy values mix in
    np.testing.assert_allclose(constant_argument(x0), _reference_gradient(x0, np.ones((2, 3)), np.zeros(2)),
                               rtol=1e-12)


def test_keyword_and_default_arguments_bind_as_in_python():
    g = sd.grad(loss)
    w, x, y = R.standard_normal(3), R.standard_normal((5, 3)), R.standard_normal(5)
    np.testing.assert_allclose(g(w, x=x, y=y), _reference_gradient(w, x, y), rtol=1e-12)
    np.testing.assert_allclose(sd.jit(loss)(y=y, x=x, w=w), loss(w, x, y), rtol=1e-13)
    scaled = sd.grad(lambda v, s=2.0: np.sum(v * v) * s)
    np.testing.assert_allclose(scaled(w), 4.0 * w, rtol=1e-13)
    np.testing.assert_allclose(scaled(w, 3.0), 6.0 * w, rtol=1e-13)
    with pytest.raises(TypeError, match="grad: <lambda>.*'v'"):
        scaled(s=1.0)
    with pytest.raises(TypeError, match=r"\*args"):
        sd.grad(lambda *a: np.sum(a[0]))


def test_parameters_named_like_builtins_or_private_names_trace():
    # the traced inputs took the parameters' names, which sd.compile refuses ("input name 'min' cannot be compiled:
    # ... rename the tensor", a tensor the user never made; third bug hunt)
    def clamp_loss(w, min, max, _scale=2.0, min_=0.0):  # noqa: A002 - the names under test
        return np.sum(np.clip(w, min, max) * _scale) + min_

    w = np.array([0.5, 3.0])
    np.testing.assert_allclose(sd.grad(clamp_loss)(w, 0.0, 1.0), [2.0, 0.0])
    assert float(sd.jit(clamp_loss)(w, 0.0, 1.0, min_=1.0)) == 4.0
    assert float(sd.jit(clamp_loss)(w, min=0.0, max=1.0, _scale=1.0)) == 1.5
