"""NumPy and JAX habits (issue 15 point 10): Node methods and properties, NumPy's ufunc and function protocols,
a -1 beside named dims, and the builders stack, var, std, prod, cumsum, argmax, argmin, einsum and relu; each
against NumPy, compiled on both backends, differentiated where it has a derivative."""

import numpy as np
import pytest

import symdiff as sd

R = np.random.default_rng(0)
A = R.standard_normal((3, 4))
B = R.standard_normal((4, 5))


def _value(node, feed):
    return sd.evaluate([node], feed)[0]


def test_methods_and_properties_match_numpy():
    x = sd.tensor("x", (3, 4))
    feed = {x: A}
    cases = {
        "sum": (x.sum(axis=0), A.sum(axis=0)), "mean": (x.mean(), A.mean()),
        "max": (x.max(axis=1, keepdims=True), A.max(axis=1, keepdims=True)), "min": (x.min(), A.min()),
        "reshape tuple": (x.reshape((2, 6)), A.reshape((2, 6))), "reshape args": (x.reshape(6, -1), A.reshape(6, -1)),
        "T": (x.T, A.T), "transpose args": (x.transpose(1, 0), A.transpose(1, 0)),
        "astype": (x.astype("float32"), A.astype("float32")), "var": (x.var(axis=0), A.var(axis=0)),
        "std": (x.std(ddof=1), A.std(ddof=1)), "prod": (x.prod(axis=1), A.prod(axis=1)),
        "cumsum": (x.cumsum(axis=1), A.cumsum(axis=1)), "argmax": (x.argmax(axis=1), A.argmax(axis=1)),
        "argmin": (x.argmin(), A.argmin()),
    }
    for name, (node, want) in cases.items():
        got = _value(node, feed)
        assert got.dtype == want.dtype and got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13, err_msg=name)
    assert x.ndim == 2 and x.size == 12 and x.shape == (3, 4)
    with pytest.raises(TypeError, match="named dim 'batch'"):
        _ = sd.tensor("b", ("batch", 3)).size


def test_numpy_ufuncs_and_functions_build_graphs():
    x, y = sd.tensor("x", (3, 4)), sd.tensor("y", (4, 5))
    feed = {x: A, y: B}
    cases = {
        "np.exp": (np.exp(x), np.exp(A)), "np.tanh": (np.tanh(x), np.tanh(A)),
        "array * node": (A * x, A * A), "node - array": (x - A.T.T, A - A),
        "np.maximum": (np.maximum(x, 0.0), np.maximum(A, 0.0)), "np.arctan2": (np.arctan2(x, 2.0), np.arctan2(A, 2.0)),
        "np.matmul": (np.matmul(x, y), A @ B), "array @ node": (A @ y, A @ B), "np.abs": (np.abs(x), np.abs(A)),
        "np.sum": (np.sum(x, axis=1), A.sum(axis=1)), "np.mean": (np.mean(x), A.mean()),
        "np.reshape": (np.reshape(x, (4, 3)), A.reshape(4, 3)), "np.transpose": (np.transpose(x), A.T),
        "np.concatenate": (np.concatenate([x, x], axis=0), np.concatenate([A, A])),
        "np.stack": (np.stack([x, x], axis=1), np.stack([A, A], axis=1)),
        "np.where": (np.where(x > 0, x, 0.0), np.where(A > 0, A, 0.0)), "np.std": (np.std(x), A.std()),
        "np.clip": (np.clip(x, -0.5, 0.5), np.clip(A, -0.5, 0.5)), "np.less": (x < A * 0.0, A < 0.0),
    }
    for name, (node, want) in cases.items():
        assert isinstance(node, sd.Node), f"{name} gave {type(node).__name__}, not a graph"
        np.testing.assert_allclose(_value(node, feed), want, rtol=1e-13, atol=1e-13, err_msg=name)
    with pytest.raises(TypeError, match="sinc"):
        np.sinc(x)
    with pytest.raises(TypeError, match="accumulate"):
        np.add.accumulate(x)


def test_a_minus_one_beside_named_dims():
    x = sd.tensor("x", ("batch", 12))
    y = sd.reshape(x, ("batch", -1, 3))
    assert y.shape == ("batch", 4, 3)
    np.testing.assert_array_equal(_value(y, {x: np.arange(24.0).reshape(2, 12)}), np.arange(24.0).reshape(2, 4, 3))
    with pytest.raises(sd.ShapeError, match="cannot infer the -1"):
        sd.reshape(x, ("other", -1))
    with pytest.raises(sd.ShapeError, match="cannot infer the -1"):
        sd.reshape(x, ("batch", -1, 5))


@pytest.mark.parametrize("spec, shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("ij->ji", [(3, 4)]), ("ij->", [(3, 4)]), ("ij,ij->i", [(3, 4), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("i,j->ij", [(3,), (4,)]), ("ijk,kj->i", [(2, 3, 4), (4, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("ba,ca->bc", [(3, 4), (5, 4)]),
])
def test_einsum_contractions_match_numpy_and_differentiate(spec, shapes):
    arrays = [R.standard_normal(s) for s in shapes]
    nodes = [sd.tensor(f"e{k}", s) for k, s in enumerate(shapes)]
    out = sd.einsum(spec, *nodes)
    feed = dict(zip(nodes, arrays))
    np.testing.assert_allclose(_value(out, feed), np.einsum(spec, *arrays), rtol=1e-12, atol=1e-12)
    sd.check_grad(sd.sum(sd.tanh(out)), nodes, feed)  # raises GradientCheckError naming the worst entry


def test_einsum_with_a_named_batch_and_bad_specs():
    x, w = sd.tensor("x", ("batch", 3)), sd.tensor("w", (3, 2))
    out = sd.einsum("bi,io->bo", x, w)
    assert out.shape == ("batch", 2)
    np.testing.assert_allclose(_value(out, {x: A[:, :3], w: B[:3, :2]}), A[:, :3] @ B[:3, :2], rtol=1e-13)
    for bad, match in [("ii->i", "repeated"), ("ij,jk", "'->'"), ("ij->k", "'k'"), ("i...,i->", "letters"),
                       ("ij,jk,k->", "operands")]:
        with pytest.raises(ValueError, match=match):
            sd.einsum(bad, x, w) if bad.count(",") == 1 else sd.einsum(bad, w)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_new_builders_compile_to_the_reference(backend):
    x = sd.tensor("x", ("batch", 4))
    outputs = [sd.stack([x, 2.0 * x], axis=0), sd.var(x, axis=1), sd.std(x, axis=0, ddof=1), sd.prod(x, axis=1),
               sd.cumsum(x, axis=1), sd.argmax(x, axis=1), sd.argmin(x, axis=-1), sd.relu(x),
               sd.einsum("bi,bi->b", x, x)]
    values = np.array([[1.0, -2.0, 3.0, 3.0], [np.nan, 0.5, -0.5, 2.0], [0.0, 0.0, -1.0, 4.0]])
    got = sd.compile([x], outputs, backend=backend)(values)
    for k, (g, w) in enumerate(zip(got, sd.evaluate(outputs, {x: values}))):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=str(k))
        np.testing.assert_allclose(g, w, rtol=1e-13, err_msg=str(k))
    np.testing.assert_array_equal(got[5], np.argmax(values, axis=1))  # a nan is the maximum, as in NumPy
    np.testing.assert_array_equal(got[6], np.argmin(values, axis=-1))
    with pytest.raises(sd.ShapeError, match="named dim 'batch'"):
        sd.argmin(x, axis=0)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_var_and_std_with_ddof_at_or_above_the_count_are_inf_or_nan_as_in_numpy(backend):
    # they divided by count - ddof: a negative variance (-8.75 for ddof 5 of 4 values), -0.0 for no values
    x, n = sd.tensor("x", (4,)), sd.tensor("n", ("n",))
    values = np.array([1.0, 2.0, 3.0, 5.0])
    cases = [(sd.var(x, ddof=4), np.inf), (sd.var(x, ddof=5), np.inf), (sd.std(x, ddof=5), np.inf)]  # NumPy's
    with np.errstate(all="ignore"):
        for node, want in cases:
            assert sd.evaluate(node, {x: values}) == want
            assert sd.compile([x], node, backend=backend)(values) == want
        empty = [sd.var(n, ddof=1), sd.std(n, ddof=1)]
        for got in (sd.evaluate(empty, {n: np.zeros(0)}), sd.compile([n], empty, backend=backend)(np.zeros(0))):
            assert np.isnan(got).all()


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_ties_of_signed_zeros_pick_numpys_operand(backend):
    # simplification put the constant of maximum(x, 0.0) first, so at x = -0.0 compiled code returned -0.0 where
    # sd.evaluate (NumPy: the second operand on a tie) gives 0.0; np.clip returns x at a tie with a bound
    x = sd.tensor("x", (2,))
    values = np.array([-0.0, 0.0])
    cases = {"relu": (sd.relu(x), np.maximum(values, 0.0)), "maximum": (sd.maximum(x, 0.0), np.maximum(values, 0.0)),
             "minimum": (sd.minimum(x, -0.0), np.minimum(values, -0.0)),
             "maximum first": (sd.maximum(0.0, x), np.maximum(0.0, values)),
             "clip": (sd.clip(x, -1.0, -0.0), np.clip(values, -1.0, -0.0)),
             "np.clip": (np.clip(x, -0.0, 1.0), np.clip(values, -0.0, 1.0))}
    fn = sd.compile([x], [node for node, _ in cases.values()], backend=backend)
    for (name, (node, want)), got in zip(cases.items(), fn(values)):
        for result in (got, sd.evaluate(node, {x: values})):
            np.testing.assert_array_equal(np.signbit(result), np.signbit(want), err_msg=name)


def test_derivatives_of_the_new_reductions():
    x = sd.tensor("x", (3, 4))
    feed = {x: A}
    for f in {"var": sd.var(x, axis=1), "std": sd.std(x), "prod": sd.prod(x, axis=0),
                    "cumsum": sd.cumsum(x, axis=0), "stack": sd.stack([x, sd.sin(x)], axis=2)}.values():
        sd.check_grad(sd.sum(sd.tanh(f)), [x], feed)  # raises naming the worst entry


_DTYPES = ["bool", "int32", "int64", "float32", "float64"]


@pytest.mark.parametrize("dtype", _DTYPES)
@pytest.mark.parametrize("scalar", [True, 3, 2.5])
def test_python_scalars_promote_as_in_numpy(dtype, scalar):
    # a Python int with a bool tensor made a bool: (x > 0) * 3 was True, sum((x > 0) * 3) counted instead of adding 3s
    x = sd.tensor("x", (3,), dtype)
    values = np.array([1, 0, 2]).astype(dtype)
    ops = [np.add, np.multiply, np.maximum, np.minimum]
    outputs = [op(x, scalar) for op in ops] + [op(scalar, x) for op in ops]
    expected = [op(values, scalar) for op in ops] + [op(scalar, values) for op in ops]
    got = sd.compile([x], outputs)(values)
    for node, value, compiled, want in zip(outputs, sd.evaluate(outputs, {x: values}), got, expected):
        assert node.dtype == want.dtype, node
        np.testing.assert_array_equal(value, want)
        np.testing.assert_array_equal(compiled, want)
        assert compiled.dtype == want.dtype


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_bool_arithmetic_compiles_as_numpy_computes_it(backend):
    # NumPy adds bools as "or" and multiplies them as "and"; compiled kernels raised an internal CodegenError
    x, y = sd.tensor("x", (4,)), sd.tensor("y", (4,))
    a, b = x > 0, y > 0
    outputs = [a + b, a * b, sd.maximum(a, b), sd.minimum(a, b), abs(a), a < b, sd.max(a), sd.min(a), sd.sum(a * b),
               sd.max(sd.stack([a, b]), axis=0)]
    xv, yv = np.array([1.0, -1.0, 2.0, -2.0]), np.array([1.0, 1.0, -1.0, -1.0])
    av, bv = xv > 0, yv > 0
    expected = [av + bv, av * bv, np.maximum(av, bv), np.minimum(av, bv), abs(av), av < bv, av.max(), av.min(),
                np.sum(av * bv), np.stack([av, bv]).max(axis=0)]
    got = sd.compile([x, y], outputs, backend=backend)(xv, yv)
    for k, (value, compiled, want) in enumerate(zip(sd.evaluate(outputs, {x: xv, y: yv}), got, expected)):
        np.testing.assert_array_equal(value, want, err_msg=str(k))
        np.testing.assert_array_equal(compiled, want, err_msg=str(k))
        assert np.asarray(compiled).dtype == np.asarray(want).dtype, k


def test_bool_subtraction_negation_and_sign_are_refused_as_in_numpy():
    a = sd.tensor("x", (3,)) > 0
    with pytest.raises(TypeError, match="bool.*not_equal"):
        a - a
    with pytest.raises(TypeError, match="bool.*not_equal"):
        a - True
    with pytest.raises(TypeError, match="bool.*equal"):
        _ = -a
    for sign in (sd.sign, np.sign):  # it built, then evaluate and compile failed with internal errors
        with pytest.raises(TypeError, match="sign: expected a numeric tensor, got dtype bool"):
            sign(a)
    assert (a - 1).dtype == "int64"  # a bool with an int is an int, as in NumPy


def test_numpy_scalars_keep_their_dtype_and_python_scalars_take_the_tensors():
    # np.float64 is a float subclass, so it was taken as a weak Python float: y * np.float64(0.1) was float32 and
    # np.maximum(y, np.float64(1e300)) inf (NumPy 2 promotes NumPy scalars by their dtype, NEP 50)
    values = {"float32": np.array([1, 3], np.float32), "int32": np.array([1, 3], np.int32),
              "bool": np.array([True, False])}
    scalars = [np.float64(0.1), np.float64(1e300), np.float32(0.1), np.int64(3), np.int32(3), np.bool_(True),
               0.1, 3, True]
    for dtype, value in values.items():
        x = sd.tensor("x", (2,), dtype)
        for s in scalars:
            for op in (np.multiply, np.maximum):
                want, got = op(value, s), sd.evaluate(op(x, s), {x: value})
                assert got.dtype == want.dtype, (dtype, repr(s), op)
                np.testing.assert_array_equal(got, want)


def test_nodes_never_become_object_arrays_and_iterate_as_numpy_arrays():
    # np.asarray(node) made an object array of per-entry nodes; iterating a named or 0-d node yielded nothing
    v, s, batch = sd.tensor("v", (3,)), sd.tensor("s", ()), sd.tensor("xb", ("batch", 3))
    for convert in (lambda: np.asarray(v), lambda: np.array([v, v]), lambda: np.asarray(s)):
        with pytest.raises(TypeError, match="symbolic.*sd.evaluate"):
            convert()
    with pytest.raises(TypeError, match="0-d"):
        list(s)
    with pytest.raises(TypeError, match="named dim 'batch'"):
        list(batch)
    rows = list(v)
    assert len(rows) == 3 and all(r.shape == () for r in rows)
    np.testing.assert_array_equal(sd.evaluate(rows, {v: np.array([1.0, 2.0, 3.0])}), [1.0, 2.0, 3.0])


def test_numpy_calls_with_arguments_symdiff_lacks_name_the_function_and_argument():
    # they raised "_unary.<locals>.build() takes 1 positional argument", and np.linalg.norm was called np.norm
    x = sd.tensor("x", (2, 3))
    for call, match in [(lambda: np.round(x, 1), r"np\.round.*'decimals'"),
                        (lambda: np.max(x, out=np.empty(2)), r"np\.max.*'out'"),
                        (lambda: np.max(x, 1, np.empty(2)), r"np\.max.*'out'"),
                        (lambda: x.sum(initial=0.0), r"x\.sum: symdiff's sum.*'initial'"),
                        (lambda: x.sum(1, 2, 3, 4, 5, 6, 7), r"x\.sum: too many positional arguments"),
                        (lambda: np.linalg.norm(x), r"np\.linalg\.norm has no symbolic counterpart")]:
        with pytest.raises(TypeError, match=match):
            call()


def test_numpy_calls_bind_arguments_as_numpy_does():
    # np.sum(x, 1, np.float64) passed the dtype as symdiff's keepdims: shape (2, 1), and x - mean broadcast the
    # other way (a silent wrong number); a dtype now casts first, as NumPy accumulates in it
    x = sd.tensor("x", (2, 3), "int64")
    X = np.array([[1, 2, 3], [4, 5, 7]])
    for build in [lambda a: np.sum(a, 1, np.float64), lambda a: a.sum(1, np.float32), lambda a: a.mean(0, None),
                  lambda a: a - np.mean(a, 1, np.float64, None, True), lambda a: np.prod(a, None, np.int32),
                  lambda a: np.var(a, 1, None, None, 1), lambda a: a.std(0, np.float32, ddof=1),
                  lambda a: np.cumsum(a, 0, np.float64), lambda a: np.max(a, 1, None, True),
                  lambda a: np.swapaxes(a, axis1=0, axis2=1), lambda a: np.clip(a, a_min=2, a_max=5),
                  lambda a: np.clip(a, None, 5), lambda a: np.clip(a, 2, None),  # "unsupported ... dtype object"
                  lambda a: np.clip(a, max=5),
                  lambda a: np.where(a > 2, a, 0), lambda a: np.concatenate([a, a], 1, None, dtype=np.float32),
                  lambda a: np.concatenate([a, a + 1], axis=None)]:  # flattened (it raised an unpacking error)
        want, node = build(X), build(x)
        got = sd.evaluate(node, {x: X})
        assert node.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.clip(x, None, None) is x and sd.clip(x) is x  # no bounds, no clip (NumPy 2.1+)


def test_an_integer_index_on_a_named_dim_says_why():
    # it said "index 0 is out of bounds for axis 0 with size batch"
    with pytest.raises(sd.ShapeError, match="named dim 'batch'.*index 0"):
        sd.tensor("xb", ("batch", 3))[0]
