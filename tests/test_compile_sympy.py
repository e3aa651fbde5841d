"""compile_sympy: values, gradients and Hessians of SymPy expressions vs sympy.lambdify; argument errors."""

import numpy as np
import pytest
import sympy as sp

from symdiff.compile_sympy import compile_sympy
from symdiff.printing import UnsupportedSympyError

XS = sp.symbols("x0:4")
ROSENBROCK = sum(100 * (XS[i + 1] - XS[i] ** 2) ** 2 + (1 - XS[i]) ** 2 for i in range(3))
# A small tanh network: shares tanh(...) between the outputs, and a constant output (no dependence on x).
TANH_EXPRS = [sp.tanh(XS[0] * XS[1] + 0.5 * XS[2]) ** 2 + XS[3] * sp.tanh(XS[0] * XS[1] + 0.5 * XS[2]),
              sp.exp(-XS[3] ** 2) * sp.tanh(XS[0] - XS[2]), sp.Integer(3)]


def _reference(expr, points):
    """value, gradient, Hessian of ``expr`` at each point by sympy.lambdify."""
    fn = sp.lambdify(XS, [expr, [sp.diff(expr, x) for x in XS], sp.hessian(expr, XS)], "numpy")
    per_point = [fn(*p) for p in points]
    return tuple(np.array([np.broadcast_to(np.asarray(r[k], dtype=float), shape) for r in per_point])
                 for k, shape in enumerate([(), (4,), (4, 4)]))


@pytest.fixture(scope="module")
def rosenbrock():
    return compile_sympy(ROSENBROCK, XS)


@pytest.fixture(scope="module")
def tanh_net():
    return compile_sympy(TANH_EXPRS, XS, derivatives=("hessian", "value"))


def test_rosenbrock_matches_lambdify(rosenbrock):
    points = np.random.default_rng(0).uniform(-2, 2, size=(7, 4))
    got = rosenbrock(points)
    assert set(got) == {"value", "grad", "hessian"}
    assert got["value"].shape == (7,) and got["grad"].shape == (7, 4) and got["hessian"].shape == (7, 4, 4)
    for key, want in zip(("value", "grad", "hessian"), _reference(ROSENBROCK, points)):
        np.testing.assert_allclose(got[key], want, rtol=1e-12, atol=1e-10)


def test_rosenbrock_serves_any_number_of_points(rosenbrock):
    points = np.random.default_rng(1).normal(size=(1, 4))
    np.testing.assert_allclose(rosenbrock(points.tolist())["value"], _reference(ROSENBROCK, points)[0], rtol=1e-12)
    assert rosenbrock(np.empty((0, 4)))["hessian"].shape == (0, 4, 4)


def test_list_of_tanh_expressions_matches_lambdify(tanh_net):
    points = np.random.default_rng(2).normal(size=(5, 4))
    got = tanh_net(points)
    assert set(got) == {"value", "hessian"}  # only what was asked for
    assert got["value"].shape == (5, 3) and got["hessian"].shape == (5, 3, 4, 4)
    for k, expr in enumerate(TANH_EXPRS):
        value, _, hessian = _reference(expr, points)
        np.testing.assert_allclose(got["value"][:, k], value, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(got["hessian"][:, k], hessian, rtol=1e-12, atol=1e-14)


def test_points_of_the_wrong_shape_are_refused(rosenbrock):
    with pytest.raises(ValueError, match=r"\(N, 4\).*got shape \(3, 5\)"):
        rosenbrock(np.zeros((3, 5)))
    with pytest.raises(ValueError, match=r"\(N, 4\).*got shape \(4,\)"):
        rosenbrock(np.zeros(4))


def test_bad_arguments_are_named_before_compiling():
    x, y = sp.symbols("x y")
    with pytest.raises(ValueError, match=r"derivatives.*'value', 'grad', 'hessian'.*'jacobian'"):
        compile_sympy(x * y, [x, y], derivatives=("value", "jacobian"))
    with pytest.raises(ValueError, match=r"symbols \['y'\] that are not in args"):
        compile_sympy(x * y, [x])
    with pytest.raises(TypeError, match="list of SymPy symbols"):
        compile_sympy(x * y, ["x", "y"])
    with pytest.raises(ValueError, match="twice"):
        compile_sympy(x * y, [x, y, x])
    with pytest.raises(ValueError, match="empty list"):
        compile_sympy([], [x])
    with pytest.raises(UnsupportedSympyError, match="'asin'"):
        compile_sympy(sp.asin(x), [x])
