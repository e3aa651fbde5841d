"""The higher-order examples: Newton's method with a compiled 20x20 Hessian, and an ODE fit with du/dt in the loss."""

import importlib.util
from pathlib import Path

import numpy as np

import symdiff as sd

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_newton_converges_quadratically():
    newton = load_example("newton_logistic")
    norms = newton.main(quick=True)
    assert norms[-1] < 1e-10 and len(norms) - 1 <= 10
    orders = newton.convergence_orders(norms)
    assert len(orders) >= 2 and min(orders) >= 1.8, (norms, orders)


def test_newton_orders_tell_linear_from_quadratic():
    newton = load_example("newton_logistic")
    assert np.allclose(newton.convergence_orders([1e-3, 1e-4, 1e-5, 1e-6]), [1.0, 1.0])
    quadratic = newton.convergence_orders([1e-3, 1e-6, 1e-12, 1e-24])
    assert np.allclose(quadratic, [2.0]), quadratic  # the triple ending below the rounding floor is left out


def test_hessian_of_20_parameters_compiles_and_matches_the_reference():
    newton = load_example("newton_logistic")
    inputs, outputs = newton.logistic_graphs()
    assert outputs[2].shape == (20, 20)
    X, Y = newton.make_data(30, seed=3)
    w = np.random.default_rng(4).normal(size=20)
    compiled = newton.compile_newton()(X, Y, w)  # the kernel main() compiles: a disk-cache hit after the test above
    reference = sd.evaluate(outputs, dict(zip(inputs, (X, Y, w))))
    for got, expected in zip(compiled, reference):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    p = 1 / (1 + np.exp(-X @ w))  # the Hessian by hand: X^T diag(p (1 - p)) X / n + lambda I
    np.testing.assert_allclose(compiled[2], X.T @ (X * (p * (1 - p))[:, None]) / len(X) + newton.L2 * np.eye(20),
                               rtol=1e-12, atol=1e-14)


def test_ode_residual_uses_the_derivative_of_each_point():
    """sd.grad(sum(u), t) is du/dt pointwise because each u_i depends on t_i only: compare with differences."""
    ode = load_example("ode_fit")
    model, t = ode.make_model(), sd.tensor("t", ("n", 1))
    u = ode.trial_solution(model, t)
    du_dt = sd.grad(sd.sum(u), t)
    feed = model.init(seed=1)
    points, h = np.linspace(0.0, 2.0, 9).reshape(-1, 1), 1e-6
    central = (sd.evaluate(u, feed | {"t": points + h}) - sd.evaluate(u, feed | {"t": points - h})) / (2 * h)
    np.testing.assert_allclose(sd.evaluate(du_dt, feed | {"t": points}), central, rtol=1e-7, atol=1e-9)
    assert np.all(sd.evaluate(u, feed | {"t": np.zeros((1, 1))}) == 1.0)  # u(0) = 1 for any parameters


def test_ode_fit_reaches_one_percent():
    # the full run (6,000 Adam steps) trains in about a second once compiled, so the claim itself is tested
    assert load_example("ode_fit").main(quick=False) < 1e-2
