"""Valid graphs that once crashed the code generator or read outside a buffer (issue 12, points 6, 7 and 9):
each compiles on both backends and computes what sd.evaluate computes."""

import numpy as np
import pytest

import symdiff as sd

BACKENDS = ["native", "numba"]


def _same_as_reference(inputs, outputs, values, backend):
    feed = dict(zip(inputs, values))
    want = sd.evaluate(outputs, feed)
    got = sd.compile(inputs, outputs, backend=backend)(*values)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)


def _graphs():
    s, x = sd.tensor("s", ()), sd.tensor("x", (3,))
    m, xb = sd.tensor("m", (1, 3)), sd.tensor("xb", ("b", 3))
    x0, x1 = sd.tensor("x0", (1,)), sd.tensor("x1", (1, 2))
    r = np.random.default_rng(0)
    return {
        "view of a 0-d input": ([s, m], [s[None] * 2.0, sd.reshape(s, (1, 1)) @ m], [np.float64(1.5), r.random((1, 3))]),
        "grad of (x @ x) * s": ([x, s], [sd.grad((x @ x) * s, x)], [r.random(3), np.float64(0.7)]),
        "one-element constant @ matrix": ([m], [sd.constant(np.ones((1, 1))) @ m], [r.random((1, 3))]),
        "concatenate a one-element constant": ([x], [sd.concatenate([x, sd.constant(np.array([1.0]))])],
                                               [r.random(3)]),
        "constant indices": ([x0, x1], [sd.take_along_axis(x0, sd.constant(np.zeros(5, np.int64)), 0)[:, None] @ x1],
                             [r.random(1), r.random((1, 2))]),
        "count under a view": ([xb], [sd.count(xb, axis=0)[None] * xb], [r.random((4, 3))]),
        # found by the differential soak: tanh's derivative expands inline in a 0-d loop over sum(x), whose
        # expansion walked down to x itself
        "grad of tanh of a full sum": ([x], [sd.grad(sd.tanh(sd.sum(x)), x), sd.tanh(sd.sum(x))], [r.random(3)]),
        # constants above 256 entries are stored as bytes in the native object (bool, int and float alike)
        "large constants": ([xb, x], [xb[:, :1] * sd.constant(r.random(1000)) + sd.take_along_axis(
            x, sd.constant(np.arange(1200) % 3), 0)[:1000] * sd.cast(sd.constant(np.arange(1000) % 2 == 0),
                                                                     "float64")], [r.random((4, 3)), r.random(3)]),
    }


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(_graphs()))
def test_graph_compiles_and_matches_reference(name, backend):
    inputs, outputs, values = _graphs()[name]
    _same_as_reference(inputs, outputs, values, backend)


def test_hessian_of_a_logistic_loss_with_many_parameters():
    d = 80
    X, w = sd.tensor("X", ("n", d)), sd.tensor("w", (d,))
    r = np.random.default_rng(1)
    _same_as_reference([X, w], [sd.hessian(sd.mean(sd.softplus(X @ w)), w)], [r.random((5, d)), r.random(d)],
                       "native")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("libm", [False, True])
def test_float32_intermediates_are_rounded_per_op(backend, libm):
    x = sd.tensor("x", (4,), "float32")
    y = sd.exp(x) / sd.exp(x - 1.0) + sd.sigmoid(x) * sd.tanh(x) ** -1.0
    values = np.array([89.0, 0.5, -3.0, 1e-3], np.float32)
    want = sd.evaluate(y, {x: values})
    got = sd.compile([x], y, backend=backend, libm=libm)(values)
    assert got.dtype == np.float32
    assert np.isinf(want[0]) and np.isinf(got[0])  # exp(89) overflows float32 before the division
    np.testing.assert_allclose(got[1:], want[1:], rtol=4e-7)


def test_unbound_named_dims_and_reshapes_that_change_size_are_refused_at_build_time():
    s = sd.tensor("s", (), "int64")
    with pytest.raises(ValueError, match="named dim 'b'.*not a dim of any input"):
        sd.compile([s], sd.random_uniform(s, ("b", 3)))
    with pytest.raises(sd.ShapeError, match="4 elements .* 6"):
        sd.reshape(sd.tensor("x", ("batch", 4)), ("batch", 6))
    assert sd.reshape(sd.tensor("x", ("batch", 4)), ("batch", 2, 2)).shape == ("batch", 2, 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_over_no_elements_raises_in_both_evaluators(backend):
    x = sd.tensor("x", ("batch", 3))
    y = [sd.max(x, axis=0), sd.min(x, axis=(0, 1))]
    fn = sd.compile([x], y, backend=backend)
    for run in (lambda v: sd.evaluate(y, {x: v}), fn):
        with pytest.raises(ValueError, match="imum of no elements"):
            run(np.ones((0, 3)))
    np.testing.assert_array_equal(fn(np.ones((2, 3)))[0], np.ones(3))
    with pytest.raises(sd.ShapeError, match="maximum of no elements"):
        sd.max(sd.tensor("z", (0, 3)), axis=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_labels_outside_the_class_range_raise_everywhere(backend):
    x, y = sd.tensor("x", ("batch", 3)), sd.tensor("y", ("batch",), "int64")
    outputs = {
        "gather": sd.take_along_axis(x, y[:, None], axis=1),
        "one_hot": sd.one_hot(y, 3) * x,
        "scatter": sd.grad(sd.sum(sd.take_along_axis(x, y[:, None], axis=1) ** 2), x),
    }
    values = np.arange(6.0).reshape(2, 3)
    for name, out in outputs.items():
        fn = sd.compile([x, y], out, backend=backend)
        good = np.array([2, 0])
        np.testing.assert_array_equal(fn(values, good), sd.evaluate(out, {x: values, y: good}), err_msg=name)
        for bad in ([-1, 0], [0, 3]):
            for run in (lambda v, out=out: sd.evaluate(out, {x: values, y: v}), lambda v, fn=fn: fn(values, v)):
                with pytest.raises(IndexError, match=r"out of range \[0, 3\)"):
                    run(np.array(bad))
    with pytest.raises(IndexError, match="got -1"):
        sd.one_hot(sd.constant(np.array([0, -1])), 3)


def test_internal_code_generator_errors_name_the_node(monkeypatch):
    import symdiff.codegen.module

    def broken(*args):
        raise KeyError(12345)

    monkeypatch.setattr(symdiff.codegen.module, "emit_matmul", broken)
    a = sd.tensor("a", (2, 20))  # more terms per entry than a loop computes inline: a matmul section
    with pytest.raises(symdiff.codegen.module.CodegenError,
                       match=r"matmul -> \(2, 2\) float64 from \[\(2, 20\), \(20, 2\)\]"):
        sd.compile([a], a @ a.T)


@pytest.mark.parametrize("name, match", [("range", "builtin"), ("ｘ", "reads it as 'x'"), ("np", "generated module"),
                                         ("_w", "'_'")])
def test_names_that_would_change_the_generated_code_are_refused(name, match):
    x = sd.tensor(name, (2,)) if name != "ｘ" else sd.Node("input", (), {"name": name, "shape": (2,),
                                                                         "dtype": "float64"}, (2,), "float64")
    with pytest.raises(ValueError, match=match):
        sd.compile([x], x * 2.0)
    y = sd.tensor("y", (2,))
    with pytest.raises(ValueError, match="function name 'range'"):
        sd.compile([y], y * 2.0, name="range")


def test_an_input_named_like_the_function_is_named_as_the_problem():
    # it blamed the function name "fn", which the user never chose
    fn = sd.tensor("fn", (2,))
    with pytest.raises(ValueError, match="input 'fn' has the function's name 'fn'; rename the tensor or pass "
                                         r"compile\(..., name=...\)"):
        sd.compile([fn], fn * 2.0)
    assert sd.compile([fn], fn * 2.0, name="double")(np.ones(2)).tolist() == [2.0, 2.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_named_like_the_kernels_own_variables_keep_their_values(backend):
    # a matrix input is read through a flat view named after it: inputs called i0, d0, p, k, ... once shadowed the
    # kernel's loop indices, dims and scratch variables of the same names (the Numba backend failed to type them)
    names = ["i0", "i1", "d0", "p", "k", "j", "x", "ws_float64", "out0", "o_float64_0", "a3", "v2", "acc4", "col5"]
    inputs = [sd.tensor(name, ("batch", 3)) for name in names]
    weights = sd.tensor("w", (3, 2))
    outputs = [sd.sum(sd.tanh(sum(inputs[1:], inputs[0])) ** 2, axis=0), inputs[0].T @ inputs[1], inputs[2] @ weights]
    fn = sd.compile([*inputs, weights], outputs, backend=backend)
    r = np.random.default_rng(9)
    feed = {**{t: r.normal(size=(4, 3)) for t in inputs}, weights: r.normal(size=(3, 2))}
    for got, want in zip(fn(*feed.values()), sd.evaluate(outputs, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ops_defined_as_graphs_expand_independently_in_one_loop(backend):
    # Regression: an expanded graph freed after use let a later node reuse its ids in the loop body's memo.
    a, b, c = sd.tensor("a", (5,)), sd.tensor("b", (5,)), sd.tensor("c", (5,))
    loss = sd.sum(sd.tanh(a) ** 2 + 3.0 * sd.tanh(b - a) + sd.tanh(c * b) * sd.exp(-c))
    outputs = [sd.grad(loss, [a, b, c]), sd.grad(sd.sum(sd.grad(loss, a) * b), [a, b, c])]
    outputs = [g for group in outputs for g in group]
    r = np.random.default_rng(5)
    _same_as_reference([a, b, c], outputs, [r.normal(size=5) for _ in range(3)], backend)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_logsumexp_of_infinite_rows_matches_scipy_and_jax(backend):
    from scipy.special import logsumexp

    inf = np.inf
    rows = np.array([[-inf, -inf], [1.0, inf], [-inf, 2.0], [inf, -inf], [0.5, 1.5]])
    x = sd.tensor("x", ("batch", 2))
    y = sd.logsumexp(x, axis=-1)
    g = sd.grad(sd.sum(y), x)
    # JAX 0.10 (jax.grad of jax.scipy.special.logsumexp) on the same rows
    jax_grad = np.array([[np.nan, np.nan], [0.0, np.nan], [0.0, 1.0], [np.nan, 0.0],
                         [1 / (1 + np.e), np.e / (1 + np.e)]])
    compiled = sd.compile([x], [y, g], backend=backend)(rows)
    for value, grad in [sd.evaluate([y, g], {x: rows}), compiled]:
        np.testing.assert_array_equal(value[:4], logsumexp(rows, axis=-1)[:4])
        np.testing.assert_allclose(value, logsumexp(rows, axis=-1), rtol=1e-15)
        np.testing.assert_allclose(grad, jax_grad, rtol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_named_dim_that_would_end_the_docstring_is_refused(backend, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = 'b"""; __import__("os").system("touch pwned"); """'
    x = sd.tensor("x", (evil, 2))
    with pytest.raises(ValueError, match=r"input 'x': named dim .* is not a Python identifier"):
        sd.compile([x], x * 2.0, backend=backend)
    assert not (tmp_path / "pwned").exists()
