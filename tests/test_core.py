"""The lecture's worked examples, structural sharing, and the errors users see."""

import numpy as np
import pytest

import symdiff as sd


def test_circuit_gradient():
    x, y, z = sd.scalar("x"), sd.scalar("y"), sd.scalar("z")
    f = (x + y) * z
    grads = sd.evaluate(sd.grad(f, [x, y, z]), {x: -2.0, y: 5.0, z: -4.0})
    assert [float(g) for g in grads] == [-4.0, -4.0, 3.0]


@pytest.mark.parametrize("t0", [-1.5, 0.0, 0.7, 2.0])
def test_product_rule(t0):
    t = sd.scalar("t")
    u, v = t**2, 3 * t + 1
    assert float(sd.evaluate(sd.grad(u * v, t), {t: t0})) == pytest.approx(9 * t0**2 + 2 * t0, rel=1e-14, abs=1e-14)


@pytest.mark.parametrize("x0", [-2.0, 0.3, 1.7])
def test_chain_rule(x0):
    x = sd.scalar("x")
    g = sd.evaluate(sd.grad(sd.sin(0.5 * x**2), x), {x: x0})
    assert float(g) == pytest.approx(x0 * np.cos(0.5 * x0**2), rel=1e-14)


def test_multiclass_hinge_loss_on_the_lecture_table():
    scores = sd.tensor("scores", ("batch", 3))
    labels = sd.tensor("labels", ("batch",), "int64")
    correct = sd.take_along_axis(scores, sd.expand_dims(labels, 1), axis=1)
    margins = sd.maximum(0.0, scores - correct + 1.0) * (1.0 - sd.one_hot(labels, 3))
    per_example = sd.sum(margins, axis=1)
    loss = sd.mean(per_example)
    # Columns of the lecture's table are the examples (cat, car, frog images).
    S = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    Y = np.array([0, 1, 2])
    per, mean = sd.evaluate([per_example, loss], {scores: S, labels: Y})
    np.testing.assert_allclose(per, [2.9, 0.0, 12.9], atol=1e-12)
    assert float(mean) == pytest.approx(5.2666666, abs=1e-6)
    sd.check_grad(loss, [scores], {scores: S, labels: Y})


def test_linear_chain_gradients_have_their_parameters_shapes():
    x = sd.tensor("x", ("batch", 15))
    W1, b1 = sd.tensor("W1", (15, 10)), sd.tensor("b1", (10,))
    W2, b2 = sd.tensor("W2", (10, 5)), sd.tensor("b2", (5,))
    loss = sd.sum(((x @ W1 + b1) @ W2 + b2) ** 2)
    params = [W1, b1, W2, b2]
    grads = sd.grad(loss, params)
    assert [g.shape for g in grads] == [p.shape for p in params]
    rng = np.random.default_rng(0)
    feed = {p: rng.normal(size=p.shape) for p in params} | {x: rng.normal(size=(7, 15))}
    assert [v.shape for v in sd.evaluate(grads, feed)] == [p.shape for p in params]


def test_identical_expressions_are_one_node():
    x = sd.tensor("x", ("batch", 4))
    assert sd.softmax(x) is sd.softmax(x)
    assert sd.tensor("x", ("batch", 4)) is x
    assert (x @ sd.tensor("W", (4, 2))) is (x @ sd.tensor("W", (4, 2)))
    with pytest.raises(AttributeError):
        x.op = "other"


def test_gradient_reuses_forward_nodes():
    x, a, b = sd.tensor("x", (3,)), sd.tensor("a", (3,)), sd.tensor("b", (3,))
    xa, xb = x + a, x + b
    f = xa * xb
    loss = 0.5 * sd.sum(f * f)
    g = sd.grad(loss, x)
    grad_nodes = {id(n) for n in sd.toposort([g])}
    assert {id(xa), id(xb), id(f)} <= grad_nodes
    # Shared: the joint graph is much smaller than the two graphs counted apart.
    assert sd.count_nodes([loss, g]) < sd.count_nodes(loss) + sd.count_nodes(g) - 5


def test_grad_of_grad_is_a_graph():
    x = sd.tensor("x", ("batch", 3))
    W = sd.tensor("W", (3, 4))
    loss = sd.sum(sd.tanh(x @ W) ** 2)
    gW = sd.grad(loss, W)
    g2 = sd.grad(sd.sum(gW * gW), W)
    assert isinstance(g2, sd.Node) and g2.shape == (3, 4)
    rng = np.random.default_rng(1)
    feed = {x: rng.normal(size=(5, 3)), W: rng.normal(size=(3, 4))}
    sd.check_grad(sd.sum(gW * gW), [W], feed)


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(sd.ShapeError, match=r"\(2, 3\).*\(4, 5\)"):
        sd.tensor("a", (2, 3)) @ sd.tensor("b", (4, 5))
    with pytest.raises(sd.ShapeError, match="do not broadcast"):
        sd.tensor("a", (2, 3)) + sd.tensor("b", (4,))


def test_evaluate_errors_name_the_input():
    x = sd.tensor("x", ("batch", 3))
    y = sd.tensor("y", ("batch",), "int64")
    out = sd.sum(x) + sd.sum(sd.cast(y, "float64"))
    with pytest.raises(sd.FeedError, match="'y'.*no value"):
        sd.evaluate(out, {x: np.zeros((2, 3))})
    with pytest.raises(sd.ShapeError, match=r"'x'.*\('batch', 3\).*\(2, 4\)"):
        sd.evaluate(out, {x: np.zeros((2, 4)), y: np.zeros(2, int)})
    with pytest.raises(sd.FeedError, match="'x'.*float64.*float32"):
        sd.evaluate(out, {x: np.zeros((2, 3), np.float32), y: np.zeros(2, int)})
    with pytest.raises(sd.ShapeError, match=r"'batch' is 16.*32 in input 'x'"):
        sd.evaluate(out, {x: np.zeros((32, 3)), y: np.zeros(16, int)})
    assert float(sd.evaluate(out, {"x": np.ones((2, 3)), "y": [1, 2]})) == 9.0


def test_grad_needs_a_scalar():
    x = sd.tensor("x", (3,))
    with pytest.raises(sd.ShapeError, match=r"scalar.*\(3,\)"):
        sd.grad(sd.exp(x), x)


def test_disconnected_inputs():
    x, z = sd.tensor("x", (3,)), sd.tensor("z", ("n", 2))
    gz = sd.grad(sd.sum(x), [x, z])[1]
    assert gz.shape == ("n", 2)
    np.testing.assert_array_equal(sd.evaluate(gz, {z: np.ones((4, 2))}), np.zeros((4, 2)))
    with pytest.raises(sd.DisconnectedInputError, match="'z'"):
        sd.grad(sd.sum(x), [x, z], disconnected="raise")


def test_check_grad_reports_the_worst_entry():
    x = sd.tensor("x", (3,))
    feed = {x: np.array([1.0, 1e-7, 2.0])}
    with pytest.raises(sd.GradientCheckError, match=r"x\[1\]") as info:
        sd.check_grad(sd.sum(sd.sign(x) + x), [x], feed)
    assert info.value.result.index == (1,)
    ok = sd.check_grad(sd.sum(sd.exp(x)), x, feed)
    assert ok.entries == 3 and ok.ratio < 1


def test_operators_and_numpy_operands():
    x = sd.tensor("x", (2,))
    X = np.array([1.5, -2.0])
    exprs = [2 - x, 2 / x, x**3, -x, np.array([1.0, 2.0]) * x, x >= 0, abs(x), x.T, x[::-1]]
    expected = [2 - X, 2 / X, X**3, -X, np.array([1.0, 2.0]) * X, X >= 0, abs(X), X.T, X[::-1]]
    for got, want in zip(sd.evaluate(exprs, {x: X}), expected):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)


def test_import_does_not_load_numba():
    import subprocess
    import sys

    code = "import sys, symdiff; print('numba' in sys.modules, 'sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
