"""Exact sparsity (issue 14 point 4): structural Jacobian/Hessian patterns read from the graph, column colourings,
and compiled sparse Jacobians/Hessians (one vectorized forward pass per call) equal to the dense ones."""

import numpy as np
import pytest
from scipy import sparse

import symdiff as sd
from symdiff.sparse import color_columns, hessian_sparsity, jacobian_sparsity, sparse_hessian, sparse_jacobian
from tests.op_cases import CASES

FLOAT_CASES = [c for c in CASES if any(k not in c.int_inputs for k in range(len(c.shapes)))]
#: Ops whose derivative picks entries by value (the arg max): structurally every entry may be picked.
VALUE_SELECTED = {"max", "min", "maximum", "minimum", "max_of"}
#: Rows whose products read zeros placed by padding: the pattern tracks dependence, not zero values moved by
#: slices and concatenation, so it is a superset there (documented).
PADDED = {"conv2d"}
#: Loops: every output entry is taken to depend on every input entry (sound, documented; not exact).
LOOPS = {"scan"}


def _concrete(case, node):
    return tuple(case.dims.get(d, d) for d in node.shape)


@pytest.mark.parametrize("case", FLOAT_CASES, ids=lambda c: c.id)
def test_every_op_pattern_covers_the_dense_jacobian_nonzeros(case):
    """Sound for every op: no entry the dense Jacobian has nonzero at random points is missing; and the pattern
    is not everything when the dense Jacobian is sparse for a structural reason (checked on smooth rows at eight
    random points: an entry zero at all of eight is a structural zero the pattern must omit, unless the op selects
    entries by value or reads data-dependent indices, whose pattern is every entry they could pick)."""
    nodes = case.tensors()
    y = case.build(*nodes)
    if y.dtype not in ("float32", "float64"):
        pytest.skip("integer output")
    for k, x in enumerate(nodes):
        if k in case.int_inputs or any(isinstance(d, str) for d in x.shape):
            continue
        pattern = jacobian_sparsity(y, x, case.dims).toarray()
        seen = np.zeros_like(pattern)
        for seed in range(1, 9):
            feed = dict(zip(nodes, case.values(seed=seed)))
            dense = sd.evaluate(sd.jacobian(sd.reshape(y, (-1,)) if y.shape else y, x), feed)
            seen |= dense.reshape(pattern.shape) != 0
        assert not np.any(seen & ~pattern), f"d{y.op}/d{x.name}: a nonzero is missing from the pattern"
        if case.smooth and not case.int_inputs and not set(case.ops) & (VALUE_SELECTED | LOOPS) \
                and case.id not in PADDED:
            np.testing.assert_array_equal(pattern, seen, err_msg=f"d{y.op}/d{x.name}: pattern is not exact")


def _rosenbrock(x):
    return sd.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _pde_energy(u):
    """A 1-D discretized energy: gradient term (u[i+1] - u[i])^2 plus a nonlinear potential."""
    return sd.sum(0.5 * (u[1:] - u[:-1]) ** 2) + sd.sum(sd.sqrt(1.0 + u * u) - 0.1 * u)


@pytest.mark.parametrize("energy", [_rosenbrock, _pde_energy], ids=["rosenbrock", "pde"])
def test_banded_hessians_are_tridiagonal_with_three_colours(energy):
    n = 30
    x = sd.tensor("x", (n,))
    pattern = hessian_sparsity(energy(x), x)
    want = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 1
    np.testing.assert_array_equal(pattern.toarray(), want)
    assert color_columns(pattern).max() + 1 == 3


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("energy", [_rosenbrock, _pde_energy], ids=["rosenbrock", "pde"])
def test_sparse_hessian_equals_the_dense_hessian(energy, backend):
    n = 12
    x = sd.tensor("x", (n,))
    f = energy(x)
    compiled = sparse_hessian(f, x, [x], backend=backend)
    x0 = np.random.default_rng(3).standard_normal(n)
    got = compiled(x0)
    assert isinstance(got, sparse.csr_array) and got.shape == (n, n) and compiled.n_colours == 3
    np.testing.assert_allclose(got.toarray(), sd.evaluate(sd.hessian(f, x), {x: x0}), rtol=1e-12, atol=1e-12)
    got.data[:] = 0.0
    got.eliminate_zeros()  # in place on the result: the next call is unaffected
    np.testing.assert_allclose(compiled(x0).toarray(), sd.evaluate(sd.hessian(f, x), {x: x0}), rtol=1e-12)


def test_sparse_jacobian_of_a_model_with_data_and_a_constant_banded_matrix():
    """y = tanh(D @ w) * sum(X @ w) has a dense Jacobian; y = tanh(D @ w) + X-free terms keeps D's band."""
    d = 10
    band = np.diag(np.full(d, 2.0)) + np.diag(np.ones(d - 1), 1)
    w, X = sd.tensor("w", (d,)), sd.tensor("X", ("n", d))
    banded = sd.tanh(sd.constant(band) @ w) + 0.5 * w ** 2
    pattern = jacobian_sparsity(banded, w)
    np.testing.assert_array_equal(pattern.toarray(), band != 0)
    coupled = banded * sd.mean(X @ w)
    assert jacobian_sparsity(coupled, w, {"n": 4}).toarray().all()
    compiled = sparse_jacobian(banded + sd.mean(X @ w) * 0.0 + sd.sum(sd.stop_gradient(X), axis=0), w, [w, X],
                               dims={"n": 4})
    w0, X0 = np.linspace(-1, 1, d), np.random.default_rng(0).standard_normal((5, d))
    dense = sd.evaluate([sd.jacobian(banded, w)], {w: w0})[0]
    np.testing.assert_allclose(compiled(w0, X0).toarray(), dense, rtol=1e-12, atol=1e-15)
    assert compiled.n_colours == 2


def test_gathers_with_data_dependent_indices_read_their_whole_axis():
    logits, labels = sd.tensor("z", (3, 4)), sd.tensor("labels", (3,), "int64")
    picked = sd.take_along_axis(logits, labels[:, None], axis=1)
    pattern = jacobian_sparsity(sd.reshape(picked, (3,)), logits).toarray()
    np.testing.assert_array_equal(pattern, np.kron(np.eye(3, dtype=bool), np.ones((1, 4), dtype=bool)))
    fixed = sd.take_along_axis(logits, sd.constant(np.array([[1], [0], [3]])), axis=1)
    np.testing.assert_array_equal(jacobian_sparsity(sd.reshape(fixed, (3,)), logits).toarray().nonzero()[1],
                                  [1, 4, 11])


@pytest.mark.parametrize("seed", range(5))
def test_colourings_never_put_two_columns_sharing_a_row_in_one_group(seed):
    pattern = sparse.random_array((40, 30), density=0.08, rng=np.random.default_rng(seed), format="csr") != 0
    colours = color_columns(pattern)
    dense = pattern.toarray()
    for c in range(colours.max() + 1):
        assert dense[:, colours == c].sum(axis=1).max() <= 1


def test_errors_name_the_problem():
    x, v = sd.tensor("x", (3,)), sd.tensor("v", ("n",))
    with pytest.raises(TypeError, match="x must be an input"):
        jacobian_sparsity(sd.sum(x), x * 2.0)
    with pytest.raises(sd.ShapeError, match="named dim 'n'"):
        jacobian_sparsity(sd.sum(v * x[0]), x)
    with pytest.raises(sd.ShapeError, match="f must be a floating-point scalar"):
        hessian_sparsity(x, x)
    with pytest.raises(sd.ShapeError, match="concrete dims"):
        sparse_jacobian(v * 2.0, v, [v], dims={"n": 3})


def test_hessian_pattern_of_a_loss_over_a_named_batch_takes_dims():
    # sum(tanh(A @ x)²) over A's named rows: the backward pass multiplies by a broadcast constant of shape ('n',),
    # whose value the pattern walk computed without the dims given, and raised "named dim 'n' ... is not bound"
    x, A = sd.tensor("x", (3,)), sd.tensor("A", ("n", 3))
    loss = sd.sum(sd.tanh(A @ x) ** 2)
    assert sd.hessian_sparsity(loss, x, dims={"n": 4}).toarray().all()
    hessian = sd.sparse_hessian(loss, x, [x, A], dims={"n": 4})
    x0, A0 = np.array([0.1, -0.2, 0.3]), np.random.default_rng(1).standard_normal((6, 3))
    dense = sd.evaluate([sd.hessian(loss, x)], {x: x0, A: A0})[0]
    np.testing.assert_allclose(hessian(x0, A0).toarray(), dense, rtol=1e-12, atol=1e-14)
