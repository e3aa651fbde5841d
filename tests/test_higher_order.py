"""Forward mode, vjp, Jacobians, Hessians, Hessian-vector products and n-th derivatives."""

import math

import numpy as np
import pytest

import symdiff as sd
from symdiff.autodiff import derivative, hessian, hvp, jacobian, jvp, vjp
from symdiff.rewrite import simplify
from tests.op_cases import CASES

SMOOTH = [c for c in CASES if c.smooth]


def _setup(case, seed=7):
    """Inputs, feed, the float inputs and random directions (as constants) for one op-table row."""
    nodes, values = case.tensors(), case.values()
    floats = [n for n in nodes if n.dtype == "float64"]
    rng = np.random.default_rng(seed)
    directions = [rng.normal(size=[case.dims.get(d, d) for d in n.shape]) for n in floats]
    return nodes, dict(zip(nodes, values)), floats, directions


def _shifted(feed, floats, directions, eps):
    return feed | {n: feed[n] + eps * d for n, d in zip(floats, directions)}


def _central(fn, feed, floats, directions, eps=1e-6):
    up, down = fn(_shifted(feed, floats, directions, eps)), fn(_shifted(feed, floats, directions, -eps))
    return [(u - d) / (2 * eps) for u, d in zip(up, down)]


@pytest.mark.parametrize("case", SMOOTH, ids=lambda c: c.id)
def test_jvp_matches_finite_differences(case):
    nodes, feed, floats, directions = _setup(case)
    out = case.build(*nodes)
    tangents = [sd.tensor(f"{n.name}_dot", n.shape) for n in floats]
    jv = jvp(out, floats, tangents)
    assert jv.shape == out.shape and all(not n.name.startswith("_jvp") for n in sd.inputs_of(jv))
    feed_t = feed | dict(zip(tangents, directions))
    (numeric,) = _central(lambda f: [sd.evaluate(out, f)], feed, floats, directions)
    np.testing.assert_allclose(sd.evaluate(jv, feed_t), numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sd.evaluate(simplify(jv), feed_t), sd.evaluate(jv, feed_t), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", SMOOTH, ids=lambda c: c.id)
def test_grad_of_grad_of_every_smooth_op(case):
    """Hessian-vector products two ways (reverse-over-reverse, forward-over-reverse) vs differences of grad."""
    nodes, feed, floats, directions = _setup(case)
    out = case.build(*nodes)
    weights = np.random.default_rng(1).uniform(0.5, 1.5, size=[case.dims.get(d, 4) if isinstance(d, str) else d
                                                                for d in out.shape])
    loss = sd.sum(out * sd.constant(weights))
    grads = sd.grad(loss, floats)
    v = [sd.tensor(f"{n.name}_v", n.shape) for n in floats]  # tensors, so named dims work
    reverse_over_reverse = sd.grad(sd.add(0.0, sum(sd.sum(g * vi) for g, vi in zip(grads, v))), floats)
    forward_over_reverse = jvp(grads, floats, v)
    numeric = _central(lambda f: sd.evaluate(grads, f), feed, floats, directions, eps=1e-5)
    feed |= dict(zip(v, directions))
    for got in (sd.evaluate(reverse_over_reverse, feed), sd.evaluate(forward_over_reverse, feed)):
        for g, n in zip(got, numeric):
            np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-7)


x3 = sd.tensor("x3", (3,))
W = sd.tensor("W", (2, 3))
RNG = np.random.default_rng(0)
X3, WV = RNG.uniform(-1, 1, 3), RNG.uniform(-1, 1, (2, 3))


def _vector_function(x):
    return sd.concatenate([sd.tanh(W @ x), x[:2] * x[1:], sd.reshape(sd.sum(sd.exp(x)), (1,))])


def _fd_jacobian(build, node, value, feed, eps=1e-6):
    cols = []
    for index in np.ndindex(*value.shape):
        e = np.zeros_like(value)
        e[index] = eps
        cols.append((sd.evaluate(build, feed | {node: value + e}) - sd.evaluate(build, feed | {node: value - e}))
                    / (2 * eps))
    return np.stack(cols, axis=-1).reshape(np.shape(cols[0]) + value.shape)


@pytest.mark.parametrize("wrt", ["x3", "W"])
def test_jacobian_matches_finite_differences(wrt):
    y = _vector_function(x3)  # 5 outputs: forward mode (columns) for x3, reverse (rows) for W's 6 entries
    node, value = (x3, X3) if wrt == "x3" else (W, WV)
    J = jacobian(y, node)
    assert J.shape == y.shape + node.shape
    feed = {x3: X3, W: WV}
    np.testing.assert_allclose(sd.evaluate(J, feed), _fd_jacobian(y, node, value, feed), rtol=1e-7, atol=1e-9)


def test_jacobian_shapes_and_named_dims():
    m = sd.tensor("m", ("n", 3))
    J = jacobian(sd.sum(sd.tanh(m * x3), axis=0), x3)
    assert J.shape == (3, 3)
    M = RNG.uniform(-1, 1, (4, 3))
    np.testing.assert_allclose(sd.evaluate(J, {m: M, x3: X3}),
                               _fd_jacobian(sd.sum(sd.tanh(m * x3), axis=0), x3, X3, {m: M}), rtol=1e-7)
    rows_named = jacobian(sd.tanh(m * x3), x3)  # named y: built column by column
    assert rows_named.shape == ("n", 3, 3)
    assert jacobian(sd.sum(x3 * x3), x3).shape == (3,)
    with pytest.raises(sd.ShapeError, match="both have named dims"):
        jacobian(sd.tanh(m), m)


def _scalar_function(x):
    return sd.sum(sd.sin(x) * x**2) + sd.sum(x[:-1] * x[1:]) + sd.logsumexp(x)


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_hessian_matches_finite_differences_of_the_gradient(shape):
    x = sd.tensor("hx", shape)
    f = _scalar_function(sd.reshape(x, (-1,))) if len(shape) > 1 else _scalar_function(x)
    H = hessian(f, x)
    assert H.shape == shape + shape
    value = RNG.uniform(-1, 1, shape)
    got = sd.evaluate(H, {x: value})
    np.testing.assert_allclose(got, _fd_jacobian(sd.grad(f, x), x, value, {}), rtol=1e-6, atol=1e-8)
    flat = got.reshape(value.size, value.size)
    np.testing.assert_allclose(flat, flat.T, atol=1e-12)


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_hvp_equals_hessian_times_v(shape):
    x, v = sd.tensor("hx", shape), sd.tensor("hv", shape)
    f = _scalar_function(sd.reshape(x, (-1,)))
    feed = {x: RNG.uniform(-1, 1, shape), v: RNG.uniform(-1, 1, shape)}
    hv, H = sd.evaluate([hvp(f, x, v), hessian(f, x)], feed)
    n = feed[x].size
    np.testing.assert_allclose(hv.ravel(), H.reshape(n, n) @ feed[v].ravel(), rtol=1e-12, atol=1e-12)


def test_vjp_pairs_cotangents_with_outputs():
    outs = [x3 * x3, sd.tanh(W @ x3)]
    cts = [sd.tensor("c1", (3,)), sd.tensor("c2", (2,))]
    gx, gw = vjp(outs, [x3, W], cts)
    expected = sd.grad(sd.sum(outs[0] * cts[0]) + sd.sum(outs[1] * cts[1]), [x3, W])
    feed = {x3: X3, W: WV, cts[0]: RNG.normal(size=3), cts[1]: RNG.normal(size=2)}
    for got, want in zip(sd.evaluate([gx, gw], feed), sd.evaluate(expected, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    assert vjp(sd.exp(x3), W, sd.tensor("c1", (3,))).shape == W.shape  # disconnected: zeros


def test_jvp_of_disconnected_outputs_is_zero_and_lists_pair_up():
    a, b = jvp([sd.sin(x3), sd.sum(W)], [x3], [sd.tensor("t", (3,))])
    assert np.all(sd.evaluate(b, {W: WV}) == 0.0) and a.shape == (3,)


def test_bad_arguments_name_what_is_wrong():
    with pytest.raises(sd.ShapeError, match=r"tangent for .*'x3'.*\(2,\), expected \(3,\)"):
        jvp(sd.sin(x3), x3, sd.tensor("t", (2,)))
    with pytest.raises(ValueError, match="1 tensors but 2 tangents"):
        jvp(sd.sin(x3), [x3], [x3, x3])
    with pytest.raises(TypeError, match="its dtype is int64"):
        jvp(sd.sin(x3), sd.tensor("i", (3,), "int64"), sd.tensor("t", (3,)))
    with pytest.raises(sd.ShapeError, match="cotangent for .* has shape"):
        vjp(sd.sin(x3), x3, sd.tensor("c", ()))
    with pytest.raises(sd.ShapeError, match=r"hvp: f must be a floating-point scalar"):
        hvp(sd.sin(x3), x3, x3)
    with pytest.raises(sd.ShapeError, match=r"derivative: x must be a floating-point tensor"):
        derivative(sd.sin(x3), sd.tensor("i", (3,), "int64"), 2)
    with pytest.raises(sd.ShapeError, match=r"derivative: with a non-scalar x, f must have x's shape"):
        derivative(sd.sin(x3)[:2], x3, 2)
    with pytest.raises(ValueError, match="order must be a non-negative int"):
        derivative(sd.sin(x3), sd.scalar("s"), -1)


# ---- n-th derivatives: values vs SymPy / Taylor series, and graph sizes ----

S = sd.scalar("s")
SCALAR_FUNCTIONS = [
    ("sin(s*cos(s))", lambda s: sd.sin(s * sd.cos(s)), lambda sp, s: sp.sin(s * sp.cos(s))),
    ("tanh^4", lambda s: sd.tanh(sd.tanh(sd.tanh(sd.tanh(s)))), lambda sp, s: sp.tanh(sp.tanh(sp.tanh(sp.tanh(s))))),
    ("s*exp(-s^2)", lambda s: s * sd.exp(-(s**2)), lambda sp, s: s * sp.exp(-(s**2))),
    ("log1p(s^2)/sqrt(1+s^2)", lambda s: sd.log1p(s * s) / sd.sqrt(1.0 + s * s),
     lambda sp, s: sp.log(1 + s**2) / sp.sqrt(1 + s**2)),
    ("s*sigmoid(s)+softplus(s)", lambda s: s * sd.sigmoid(s) + sd.softplus(s),
     lambda sp, s: s / (1 + sp.exp(-s)) + sp.log(1 + sp.exp(s))),
    ("s^3/(1+s)^2.5", lambda s: s**3 / (1.0 + s) ** 2.5, lambda sp, s: s**3 / (1 + s) ** sp.Rational(5, 2)),
]


@pytest.mark.parametrize("name, build, symbolic", SCALAR_FUNCTIONS, ids=[f[0] for f in SCALAR_FUNCTIONS])
def test_third_derivatives_match_sympy(name, build, symbolic):
    import sympy as sp

    s = sp.Symbol("s")
    exact = sp.lambdify(s, sp.diff(symbolic(sp, s), s, 3))
    f = build(S)
    forward = derivative(f, S, 3)
    reverse = sd.grad(sd.grad(sd.grad(f, S), S), S)
    for point in (-0.4, 0.3, 1.2):
        want = float(exact(point))
        for graph in (forward, reverse, simplify(reverse)):
            assert float(sd.evaluate(graph, {S: point})) == pytest.approx(want, rel=1e-10, abs=1e-10)


def _taylor_tanh(u):
    """Taylor coefficients of tanh(u) from those of u: k y_k = sum_j j u_j (1 - y^2)_{k-j}."""
    y = np.zeros_like(u)
    y[0] = np.tanh(u[0])
    for k in range(1, len(u)):
        one_minus_y2 = [float(m == 0) - sum(y[i] * y[m - i] for i in range(m + 1)) for m in range(k)]
        y[k] = sum(j * u[j] * one_minus_y2[k - j] for j in range(1, k + 1)) / k
    return y


@pytest.fixture(scope="module")
def nested_tanh_orders():
    f = sd.tanh(sd.tanh(sd.tanh(sd.tanh(S))))
    orders = []
    for _ in range(10):
        f = derivative(f, S, 1)
        orders.append(f)
    return orders


def test_nested_tanh_tenth_derivative_is_small_and_right(nested_tanh_orders):
    counts = [sd.count_nodes(g) for g in nested_tanh_orders]
    assert counts[-1] < 1000  # nested reverse mode in JAX: ~377,000 equations; Taylor mode ~800
    assert counts[9] / counts[4] < 8  # at most cubic growth from n=5 to n=10 (exponential would be ~60x)
    series = np.zeros(11)
    series[:2] = [0.6, 1.0]  # s = 0.6 + h
    for _ in range(4):
        series = _taylor_tanh(series)
    got = sd.evaluate(nested_tanh_orders, {S: 0.6})
    want = [math.factorial(n) * series[n] for n in range(1, 11)]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_sin_x_cos_x_derivatives_stay_polynomial():
    f = sd.sin(S * sd.cos(S))
    counts = [sd.count_nodes(derivative(f, S, n)) for n in (5, 10)]
    assert counts[1] < 400 and counts[1] / counts[0] < 8


def test_tanh_derivatives_keep_their_relative_accuracy_at_large_arguments():
    import mpmath

    x = sd.tensor("x", (5,))
    values = np.array([-10.0, 10.0, 15.0, -19.5, 25.0])
    first = sd.grad(sd.sum(sd.tanh(x)), x)
    second = sd.grad(sd.sum(first), x)
    with mpmath.workdps(40):
        want1 = np.array([float(mpmath.sech(v) ** 2) for v in values])
        want2 = np.array([float(-2 * mpmath.tanh(v) * mpmath.sech(v) ** 2) for v in values])
    compiled = sd.compile([x], [first, second])(values)
    for got in (sd.evaluate([first, second], {x: values}), compiled):
        np.testing.assert_allclose(got[0], want1, rtol=1e-14)  # 1 - tanh^2: 1e-8 at 10, 2e-4 at 15, 0 beyond 19
        np.testing.assert_allclose(got[1], want2, rtol=1e-14)


def test_nested_grads_of_a_scalar_are_the_forward_mode_derivatives(nested_tanh_orders):
    # ten nested reverse passes built 39,061 nodes; a gradient with respect to one entry is taken in forward mode
    # and simplified, so each order reuses the previous ones' nodes: the very graphs sd.derivative builds
    g = sd.tanh(sd.tanh(sd.tanh(sd.tanh(S))))
    for order in range(10):
        g = sd.grad(g, S)
        assert g is nested_tanh_orders[order]
    h = sd.sin(S * sd.cos(S))
    for _ in range(10):
        h = sd.grad(h, S)
    assert sd.count_nodes(g) < 1000 and sd.count_nodes(h) < 400
    assert h is derivative(sd.sin(S * sd.cos(S)), S, 10)


def test_derivative_over_an_elementwise_variable_equals_the_scalar_derivative_at_each_point():
    x, a = sd.tensor("x", ("points",)), sd.tensor("a", ("points",))
    f = sd.sin(a * x) * sd.exp(x) + sd.tanh(x) ** 2
    X, A = np.linspace(-1.5, 1.5, 7), np.linspace(0.5, 2.0, 7)
    s, b = sd.scalar("s"), sd.scalar("b")
    scalar_f = sd.sin(b * s) * sd.exp(s) + sd.tanh(s) ** 2
    for order in (1, 4):
        got = sd.evaluate(sd.derivative(f, x, order), {x: X, a: A})
        want = [float(sd.evaluate(sd.derivative(scalar_f, s, order), {s: xi, b: ai})) for xi, ai in zip(X, A)]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    fn = sd.compile([x, a], sd.derivative(f, x, 3))
    np.testing.assert_allclose(fn(X, A), sd.evaluate(sd.derivative(f, x, 3), {x: X, a: A}), rtol=1e-12)
    y = sd.tensor("y", (4,))
    with pytest.raises(sd.ShapeError, match="not elementwise in x: entry 0 of f depends on entry 3"):
        sd.derivative(y * y[::-1], y)
    with pytest.raises(sd.ShapeError, match="must have x's shape"):
        sd.derivative(sd.sum(y), y)
