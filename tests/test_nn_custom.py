"""User-made elementwise modules: SymPy parsing, op records, every derivative order, composition, errors."""

import math
import subprocess
import sys

import numpy as np
import pytest
import sympy

import symdiff as sd
from symdiff import nn
from symdiff.ops import OPS
from tests.test_nn_checks import check_second_order

X = np.array([-2.5, -0.7, 0.4, 1.9])


def _swish():
    return nn.elementwise("swish", "x*sigmoid(x)")


def test_swish_values_and_three_derivative_orders():
    swish = _swish()
    x = sd.tensor("x", (4,))
    s = 1 / (1 + np.exp(-X))
    np.testing.assert_allclose(sd.evaluate(swish(x), {x: X}), X * s, rtol=1e-14)
    d1 = sd.grad(sd.sum(swish(x)), x)
    d2 = sd.grad(sd.sum(d1), x)
    d3 = sd.grad(sd.sum(d2), x)
    expected_d1 = s + X * s * (1 - s)
    expected_d2 = s * (1 - s) * (2 + X * (1 - 2 * s))
    got = sd.evaluate([d1, d2], {x: X})
    np.testing.assert_allclose(got[0], expected_d1, rtol=1e-12)
    np.testing.assert_allclose(got[1], expected_d2, rtol=1e-12)
    assert {"user.swish.d1", "user.swish.d2", "user.swish.d3"} <= set(OPS)
    weighted = sd.sum(swish(x) * sd.constant([1.0, 2.0, 3.0, 4.0]))
    sd.check_grad(weighted, [x], {x: X})
    check_second_order(weighted, [x], {x: X})
    sd.check_grad(sd.sum(d2), [x], {x: X}, eps=1e-5, rtol=1e-6)  # third order
    assert d3.shape == (4,)


def test_op_records_agree_expansion_numpy_and_sympy():
    swish = _swish()
    x = sd.tensor("x", (4,))
    sd.grad(sd.sum(sd.grad(sd.sum(swish(x)), x)), x)  # creates d1 and d2
    for order, op_name in enumerate(["user.swish", "user.swish.d1", "user.swish.d2"]):
        record = OPS[op_name]
        assert record.kind == "elementwise"
        reference = record.numpy(X)
        kind, expand = record.kernel
        x_ = sd.tensor("x_", (4,))
        np.testing.assert_allclose(sd.evaluate(expand(x_), {x_: X}), reference, rtol=1e-13)
        a = sympy.Symbol("a")
        rendered = record.sympy(sympy, a)
        assert sympy.simplify(rendered - swish.derivative(order).subs(sympy.Symbol("x", real=True), a)) == 0


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_user_modules_compile_as_graphs_of_built_in_ops(backend):
    f = nn.elementwise("mixed", "sqrt(1 + x**2) * cos(x) - log(2 + sin(x)) + tanh(x)/3 + softplus(x) + Abs(x) + Max(x, 0, x**2 - 1)")
    x = sd.tensor("x", (4,))
    y = f(x)
    outputs = [y, sd.grad(sd.sum(y * y), x)]
    fn = sd.compile([x], outputs, backend=backend)
    for got, want in zip(fn(X), sd.evaluate(outputs, {x: X})):
        np.testing.assert_allclose(got, want, rtol=1e-13)
    code = [line.split("#")[0] for line in fn.source.splitlines()]
    assert not any("user." in line for line in code)  # computed from built-in ops (comments name the op)


def test_same_definition_twice_is_one_module_and_a_change_raises():
    assert _swish() is _swish()
    with pytest.raises(ValueError, match=r"'swish' is already defined as .*, not x\*\*2"):
        nn.elementwise("swish", "x**2")
    with pytest.raises(ValueError, match="'relu' is a built-in activation"):
        nn.elementwise("relu", "x**2")


def test_sympy_expressions_and_lambdas():
    t = sympy.Symbol("t")
    from_expr = nn.elementwise("cubic_t", t**3 - 2 * t)
    from_lambda = nn.elementwise("cubic_lambda", sympy.Lambda(t, t**3 - 2 * t))
    x = sd.tensor("x", (4,))
    for module in (from_expr, from_lambda):
        np.testing.assert_allclose(sd.evaluate(module(x), {x: X}), X**3 - 2 * X, rtol=1e-14)
    d1, d2, d3 = (from_expr.derivative(k) for k in (1, 2, 3))
    assert (d2, d3) == (6 * sympy.Symbol("x", real=True), 6)
    assert from_expr.derivative(4) == 0
    # The constant third derivative becomes a scalar factor, the zero fourth derivative no graph at all.
    g3 = sd.grad(sd.sum(sd.grad(sd.sum(sd.grad(sd.sum(from_expr(x)), x)), x)), x)
    np.testing.assert_allclose(sd.evaluate(g3, {x: X}), np.full(4, 6.0))
    assert "user.cubic_t.d3" not in OPS
    assert d1 == 3 * sympy.Symbol("x", real=True) ** 2 - 2


def test_modules_of_modules():
    swish = _swish()
    squared = nn.elementwise("swish_squared", "swish(x)**2")
    x = sd.tensor("x", (4,))
    s = X / (1 + np.exp(-X))
    np.testing.assert_allclose(sd.evaluate(squared(x), {x: X}), s**2, rtol=1e-13)
    chain = nn.Sequential([swish, "tanh", squared])
    assert chain.parameters == {}
    out = chain(x)
    np.testing.assert_allclose(sd.evaluate(out, {x: X}), (np.tanh(s) / (1 + np.exp(-np.tanh(s)))) ** 2, rtol=1e-13)
    weighted = sd.sum(out * sd.constant([1.0, -1.0, 2.0, 0.5]))
    sd.check_grad(weighted, [x], {x: X})
    check_second_order(weighted, [x], {x: X})
    assert nn.get_activation("swish_squared") is squared


def test_layers_take_user_activations_by_name():
    _swish()
    layer = nn.Dense(2, 2, "swish")
    x = sd.tensor("x", ("batch", 2))
    feed = layer.init(0) | {"x": np.array([[0.3, -1.0]])}
    sd.check_grad(sd.sum(layer(x)), [layer.W, layer.b], feed)


def test_bad_definitions():
    with pytest.raises(ValueError, match=r"unknown function: 'gamma' at column 1"):
        nn.elementwise("gamma_function", "gamma(x)")
    with pytest.raises(ValueError, match=r"unknown name \(the variable is x\): 'a' at column 1"):
        nn.elementwise("two_vars", "a*x")
    with pytest.raises(ValueError, match="cannot parse"):
        nn.elementwise("broken", "x*(")
    with pytest.raises(ValueError, match="must be a Python identifier"):
        nn.elementwise("user.op", "x")
    with pytest.raises(TypeError, match="expected an expression string"):
        nn.elementwise("number", 3)
    with pytest.raises(ValueError, match=r"only the midpoint value 1/2"):
        nn.elementwise("step_one", "Heaviside(x, 1)")


def test_kinks_follow_the_midpoint_convention():
    user_relu = nn.elementwise("user_relu", "Max(x, 0)")
    signed_square = nn.elementwise("signed_square", "x*Abs(x)")
    x = sd.tensor("x", (3,))
    X0 = np.array([-1.5, 0.0, 2.0])
    g, gg = sd.evaluate([sd.grad(sd.sum(user_relu(x)), x), sd.grad(sd.sum(sd.grad(sd.sum(user_relu(x)), x)), x)],
                        {x: X0})
    np.testing.assert_array_equal(g, sd.evaluate(sd.grad(sd.sum(nn.relu(x)), x), {x: X0}))  # [0, 1/2, 1]
    np.testing.assert_array_equal(gg, [0.0, 0.0, 0.0])  # the step's derivative is zero
    d1 = sd.grad(sd.sum(signed_square(x)), x)
    d2 = sd.grad(sd.sum(d1), x)
    np.testing.assert_array_equal(sd.evaluate([d1, d2], {x: X0}), [2 * np.abs(X0), 2 * np.sign(X0)])
    weighted = sd.sum(signed_square(x) * sd.constant([1.0, 2.0, 3.0]))
    check_second_order(weighted, [x], {x: np.array([-1.5, 0.3, 2.0])})


def test_importing_nn_does_not_import_sympy():
    code = "import sys, symdiff.nn; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_user_modules_of_erf_and_steps_evaluate_differentiate_and_refuse_huge_constants():
    # found by a first-hour bug hunt: sd.evaluate of erf(x) called math.erf on arrays (TypeError); the derivative
    # of floor/ceil/round stayed SymPy's unevaluated Derivative (an internal 'Tuple' error); 10**1000 passed the
    # grammar and failed with OverflowError in the conversion
    x = sd.tensor("x", (3,))
    values = np.array([0.1, 0.5, -1.7])
    erf = sd.nn.elementwise("hunt_erf", "erf(x)")(x)
    np.testing.assert_array_equal(sd.evaluate(erf, {x: values}), sd.compile([x], erf)(values))
    np.testing.assert_allclose(sd.evaluate(erf, {x: values}), [math.erf(v) for v in values], rtol=1e-15)
    for k, text in enumerate(["floor(x)", "ceil(x)", "round(x)", "x + floor(x)"]):
        y = sd.nn.elementwise(f"hunt_step{k}", text)(x)
        gradient = sd.evaluate(sd.grad(sd.sum(y), x), {x: values})
        np.testing.assert_array_equal(gradient, np.full(3, 1.0 if "+" in text else 0.0))
    for k, text in enumerate(["x*10**1000", "exp(exp(exp(exp(10))))*x", "sin(10**1000)*x", "x**1e308**2"]):
        with pytest.raises(ValueError, match="not a finite float64 number|not finite"):
            sd.nn.elementwise(f"hunt_huge{k}", text)
