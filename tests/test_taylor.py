"""Taylor mode (issue 14 point 5): ``sd.taylor`` against repeated symbolic differentiation for every
differentiable elementwise op and the products, reductions and shape ops around them, on scalar and elementwise
variables, compiled on both backends; high orders against mpmath; the graph does not grow with the order."""

import math

import numpy as np
import pytest

import symdiff as sd

X = sd.tensor("x", ())
ORDER = 5
INNER = 0.4 + 0.3 * sd.sin(X)  # in (0.1, 0.7): inside every op's domain, and not linear in x
OTHER = 0.9 + 0.2 * sd.cos(2.0 * X)

UNARY = ["exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "arctan", "tanh", "sigmoid", "softplus", "erf",
         "erfc", "log2", "log10", "exp2", "abs", "negative"]
BINARY = {
    "add": sd.add, "subtract": sd.subtract, "multiply": sd.multiply, "divide": sd.divide, "power": sd.power,
    "maximum": sd.maximum, "minimum": sd.minimum, "arctan2": sd.arctan2,
    "power by a constant": lambda a, b: a ** 2.5, "integer power": lambda a, b: a ** 3,
    "where": lambda a, b: sd.where(a > 0.5, a * b, b - a),
}
COMPOSITES = {
    "matmul of two moving matrices": lambda x: sd.sum(sd.sin(x * sd.constant(np.arange(6.0).reshape(2, 3)) / 5)
                                                      @ sd.tanh(x * sd.constant(np.ones((3, 2))) + 0.1)),
    "vector @ matrix": lambda x: sd.sum(sd.exp(x * sd.constant(np.arange(3.0)) / 4) @ sd.cos(x * np.ones((3, 2)))),
    "reductions and shapes": lambda x: sd.max(sd.reshape(sd.sin(x * sd.constant(np.arange(1.0, 7.0))), (2, 3)).T
                                              * sd.sigmoid(x), axis=0) @ sd.constant(np.ones(2)),
    "softmax cross-entropy": lambda x: sd.nn.softmax_cross_entropy(
        sd.reshape(x * sd.constant(np.array([1.0, -2.0, 0.5])), (1, 3)), sd.constant(np.array([[0.0, 1.0, 0.0]]))),
}


def _symbolic(f, x, at):
    """``f⁽ᵏ⁾(x)/k!`` for k = 0..ORDER by repeated symbolic differentiation, evaluated."""
    return np.stack([sd.evaluate(sd.derivative(f, x, k), {x: at}) / math.factorial(k) for k in range(ORDER + 1)])


def _check(f, at=0.3):
    series = sd.taylor(f, X, ORDER)
    assert series.shape == (ORDER + 1,) + f.shape
    np.testing.assert_allclose(sd.evaluate(series, {X: at}), _symbolic(f, X, at), rtol=1e-10, atol=1e-12)
    return series


@pytest.mark.parametrize("op", UNARY)
def test_unary_ops_match_repeated_differentiation(op):
    _check(getattr(sd, op)(INNER - 0.2 if op == "abs" else INNER))


@pytest.mark.parametrize("name", BINARY)
def test_binary_ops_match_repeated_differentiation(name):
    _check(BINARY[name](INNER, OTHER))
    _check(BINARY[name](INNER, 0.75))  # one operand constant


@pytest.mark.parametrize("name", COMPOSITES)
def test_products_reductions_and_shapes_match_repeated_differentiation(name):
    _check(COMPOSITES[name](X))


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiled_series_equal_the_reference_on_points(backend, dtype):
    x = sd.tensor("x", ("n",), dtype)
    f = sd.sin(x) * sd.exp(x) / (1.0 + x * x) + sd.tanh(x) ** 2
    series = sd.taylor(f, x, 6)
    assert series.shape == (7, "n")
    points = np.linspace(-1.5, 2.0, 9).astype(dtype)
    expected = sd.evaluate(series, {x: points})
    fn = sd.compile([x], series, backend=backend)
    got = fn(points)
    assert got.dtype == np.dtype(dtype)
    tolerance = 1e-12 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max())
    if dtype == "float64":
        per_order = [sd.evaluate(sd.derivative(f, x, k), {x: points}) / math.factorial(k) for k in range(7)]
        np.testing.assert_allclose(expected, np.stack(per_order), rtol=1e-9, atol=1e-12)


def test_tenth_derivative_of_a_deep_composition_equals_high_precision():
    mpmath = pytest.importorskip("mpmath")
    f = X
    for _ in range(7):
        f = sd.sin(f)
    fn = sd.compile([X], sd.derivative(f, X, 10, mode="taylor"))
    mpmath.mp.dps = 40

    def composed(z):
        for _ in range(7):
            z = mpmath.sin(z)
        return z

    exact = float(mpmath.diff(composed, mpmath.mpf("0.3"), 10))
    assert fn(0.3) == pytest.approx(exact, rel=1e-12)


def test_the_graph_does_not_grow_with_the_order():
    f = sd.tanh(sd.exp(sd.sin(X) * X) + sd.log1p(X * X))
    sizes = {sd.count_nodes(sd.taylor(f, X, order)) for order in (10, 20, 40)}  # below ~4, small constants fold
    assert len(sizes) == 1


def test_order_zero_and_constants():
    assert sd.evaluate(sd.taylor(sd.sin(X), X, 0), {X: 0.5}) == pytest.approx([math.sin(0.5)])
    constant_in_x = sd.taylor(sd.cos(sd.tensor("y", ())) + 0 * X, X, 3)
    np.testing.assert_allclose(sd.evaluate(constant_in_x, {X: 1.0, "y": 0.2}), [math.cos(0.2), 0, 0, 0])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="order must be a non-negative int, got -1"):
        sd.taylor(sd.sin(X), X, -1)
    v = sd.tensor("v", (3,))
    with pytest.raises(sd.ShapeError, match="not elementwise in x"):
        sd.taylor(sd.sum(v) * v, v, 2)
    looped = sd.scan(lambda h, e: sd.tanh(h * e), X, sd.constant(np.ones(3)), keep="last")
    with pytest.raises(NotImplementedError, match="no Taylor rule for op 'scan'"):
        sd.taylor(looped, X, 3)
    with pytest.raises(ValueError, match="mode must be 'symbolic' or 'taylor'"):
        sd.derivative(sd.sin(X), X, 2, mode="jet")


OTHERS = {"matrix": (sd.tensor("P", (3, 3)), np.full((3, 3), 1.3)),
          "batch": (sd.tensor("b", ("batch", 3)), np.linspace(0.5, 1.5, 6).reshape(2, 3))}
S = sd.tensor("s", ())
WITH_OTHER = {
    "power": lambda other: (0.5 + S * S) ** other,
    "arctan2": lambda other: sd.arctan2(S, other),
    "multiply": lambda other: sd.sin(S) * (other * S),
    "matmul": lambda other: sd.tanh(S * other) @ sd.exp(S * sd.ones((3, 2))),
}


@pytest.mark.parametrize("other", OTHERS)
@pytest.mark.parametrize("name", WITH_OTHER)
def test_a_scalar_variable_broadcast_against_larger_operands(name, other):
    """Found by the differential soak: a 0-d x meeting a (3, 3) or ("batch", 3) operand. With 3 orders, a (3,)
    series once broadcast against a (3, 3) exponent silently; named dims once stopped the Cauchy product."""
    node, value = OTHERS[other]
    f = WITH_OTHER[name](node)
    feed = {S: 0.7, node: value}
    got = sd.evaluate(sd.taylor(f, S, 3), feed)
    want = np.stack([sd.evaluate(sd.derivative(f, S, k), feed) / math.factorial(k) for k in range(4)])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
