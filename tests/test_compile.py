"""sd.compile: in-place training steps, batch sizes, allocation, argument checks, source, export, cache."""

import ast
import math
import os
import re
import subprocess
import sys
import textwrap
import traceback

import numpy as np
import pytest

import symdiff as sd
from tests.mlp import mlp_graph, mlp_values, sgd_step

R = np.random.default_rng(0)


@pytest.fixture(scope="module")
def mlp():
    inputs, loss = mlp_graph(3, 5, 4)
    outputs, updates = sgd_step(inputs, loss, lr=0.1)
    return inputs, loss, updates, sd.compile(inputs, outputs[0], updates, name="train_step")


def _reference_step(inputs, loss, updates, values):
    feed = dict(zip(inputs, values))
    new = sd.evaluate([loss] + list(updates.values()), feed)
    return new[0], new[1:]


@pytest.mark.parametrize("batch", [1, 4, 37])
def test_training_step_updates_parameters_in_place(mlp, batch):
    inputs, loss, updates, step = mlp
    values = mlp_values(batch, 3, 5, 4, seed=batch)
    for _ in range(3):
        want_loss, want_params = _reference_step(inputs, loss, updates, values)
        before = [v.copy() for v in values[2:]]
        got = step(*values)
        assert isinstance(got, np.float64)
        np.testing.assert_allclose(got, want_loss, rtol=1e-12)
        for param, want, old in zip(values[2:], want_params, before):
            np.testing.assert_allclose(param, want, rtol=1e-11, atol=1e-14)
            assert not np.array_equal(param, old)


def _integer_value(text: str, names: dict[str, int]) -> int:
    """The value of a printed offset (integers, dims, ``+`` and ``*``), read without evaluating code."""
    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return names[node.id]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"unexpected offset syntax: {ast.dump(node)}")

    return value(ast.parse(text, mode="eval").body)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_workspace_slots_of_a_vector_or_more_start_on_64_byte_boundaries(backend):
    # 512-bit loads and stores that straddle two cache lines ran the first convolution's loop of cnn28 at half
    # speed: each buffer starts on a 64-byte boundary, and each slot holding at least a vector's elements per
    # value of its dims at a multiple of 64 bytes from it, for every batch size
    x = sd.tensor("x", ("batch", 5), "float32")
    w, v = sd.tensor("w", (5, 19), "float32"), sd.tensor("v", (19, 3), "float32")
    h = sd.tanh(x @ w)
    loss = sd.sum(sd.log_softmax(h @ v, axis=-1) ** 2)
    fn = sd.compile([x, w, v], [loss, *sd.grad(loss, [w, v])], backend=backend)
    offsets = re.findall(r"^ +(_a\d+) = (.+?)  # n\d+ \w+ (\(.*\))$", fn.source, re.M)
    assert len(offsets) > 4
    for batch in (1, 3, 8, 17):
        feed = [R.standard_normal((batch, 5)).astype(np.float32), R.standard_normal((5, 19)).astype(np.float32),
                R.standard_normal((19, 3)).astype(np.float32)]
        for got, want in zip(fn(*feed), sd.evaluate([loss, *sd.grad(loss, [w, v])], dict(zip([x, w, v], feed)))):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
        (buffers,) = fn.module._WORKSPACES.pools[(batch,)]
        assert buffers[0].dtype == np.float32 and buffers[0].ctypes.data % 64 == 0
        wide = 0
        for name, offset, shape in offsets:
            per_dim_value = math.prod(d for d in ast.literal_eval(shape) if isinstance(d, int))
            if per_dim_value >= 16:  # float32 elements of one 64-byte vector
                wide += 1
                assert _integer_value(offset, {"_d0": batch}) % 16 == 0, (name, offset, shape)
        assert wide >= 3


def test_steady_state_allocates_only_returned_arrays_numba(mlp):
    from numba.core.runtime import _nrt_python, rtsys

    _nrt_python.memsys_enable_stats()  # Numba's allocation counters (off by default)
    inputs, loss, _, _ = mlp
    params = list(inputs[2:])
    fn = sd.compile(inputs, sd.grad(loss, params), name="grads", backend="numba")
    workspaces = fn.module._WORKSPACES
    for batch in (8, 64):
        values = mlp_values(batch, 3, 5, 4)
        first = fn(*values)
        (buffers,) = workspaces.pools[(batch,)]
        before = rtsys.get_allocation_stats()
        for _ in range(5):
            fn(*values)
        after = rtsys.get_allocation_stats()
        # Per call: one fresh array per returned gradient, plus the small handle Numba makes for each
        # array argument it receives (6 inputs and 1 workspace buffer), whatever the batch size.
        assert after.alloc - before.alloc == 5 * (len(params) + len(inputs) + 1)
        assert workspaces.pools[(batch,)] == [buffers]  # planned once per shape signature, then reused
        again = fn(*values)
        assert all(a is not b and not np.shares_memory(a, b) for a, b in zip(first, again))


def test_steady_state_allocates_only_returned_arrays_native(mlp):
    import tracemalloc

    numpy_data = tracemalloc.DomainFilter(True, 389047)  # NumPy reports array buffers in this domain
    inputs, loss, _, _ = mlp
    params = list(inputs[2:])
    fn = sd.compile(inputs, sd.grad(loss, params), name="grads", backend="native")
    workspaces = fn.module._WORKSPACES
    values = mlp_values(4096, 3, 5, 4)  # workspace ~1 MB, gradients 352 bytes: any extra buffer would show
    first = fn(*values)
    (buffers,) = workspaces.pools[(4096,)]
    kept = []
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces([numpy_data])
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(5):
            kept.append(fn(*values))
        _, peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot().filter_traces([numpy_data])
    finally:
        tracemalloc.stop()
    new = [s for s in after.compare_to(before, "traceback") if s.count_diff > 0]
    returned = sum(g.nbytes for call in kept for g in call)
    assert sum(s.count_diff for s in new) == 5 * len(params)  # one buffer per returned gradient per call
    assert sum(s.size_diff for s in new) == returned
    assert peak - start < returned + 64 * 1024  # no transient workspace-sized allocation either
    assert workspaces.pools[(4096,)] == [buffers]
    assert all(a is not b and not np.shares_memory(a, b) for a, b in zip(first, kept[-1]))


def test_argument_errors_name_the_argument(mlp):
    _, _, _, step = mlp
    x, y, W1, b1, W2, b2 = mlp_values(4, 3, 5, 4)
    with pytest.raises(TypeError, match=r"'x'.*float64.*float32"):
        step(x.astype(np.float32), y, W1, b1, W2, b2)
    with pytest.raises(ValueError, match=r"'W1'.*\(3, 5\).*\(5, 3\)"):
        step(x, y, W1.T.copy(), b1, W2, b2)
    with pytest.raises(ValueError, match=r"'y'.*'batch' is 3.*4 in argument 'x'"):
        step(x, y[:3], W1, b1, W2, b2)
    with pytest.raises(ValueError, match=r"'W2'.*updated in place.*C-contiguous"):
        step(x, y, W1, b1, np.asfortranarray(np.ones((5, 4))), b2)
    with pytest.raises(IndexError, match="out of range"):
        step(x, np.array([0, 1, 2, 9]), W1, b1, W2, b2)
    # Inputs that are only read are converted: lists and strided views work.
    loss = step(np.asfortranarray(x), y.tolist(), W1, b1, W2, b2)
    assert np.isfinite(loss)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_argument_errors_show_no_traceback_of_the_kernel(backend):
    # the explanation was raised while handling the kernel's own refusal, so an uncaught one printed Numba's
    # dispatcher ("No matching definition ...") above it, "During handling of the above exception ..."
    x = sd.tensor("x", (3,))
    fn = sd.compile([x], sd.sum(x * x), backend=backend)
    for bad in (np.ones(3, np.float32), np.ones(3, ">f8"), np.ones(4)):
        with pytest.raises((TypeError, ValueError), match="argument 'x'") as error:
            fn(bad)
        text = "".join(traceback.format_exception(error.value))
        assert "During handling" not in text and "numba" not in text and "C-contiguous" not in text, text


def test_source_is_readable_and_deterministic(mlp):
    inputs, loss, updates, step = mlp
    again = sd.compile(inputs, [loss], updates, name="train_step")
    assert again.source == step.source  # same graph, byte-identical source (and the same cache entry)
    (value,) = again(*mlp_values(4, 3, 5, 4))  # outputs given as a list come back as a tuple
    assert np.isfinite(value)
    assert "# fused elementwise" in step.source and "    gemm(" not in step.source  # products this small are loops
    a, b = sd.tensor("a", ("batch", 20)), sd.tensor("b", (20, 20))
    product = sd.compile([a, b], sd.tanh(a @ b)).source
    assert "    gemm(" in product and "_dgemm(" in product
    assert product.count("import numpy as np") == 1  # the pasted BLAS binding brings no imports of its own
    assert "def train_step(x, y, W1, b1, W2, b2):" in step.source


def test_export_runs_without_symdiff(mlp, tmp_path):
    inputs, loss, updates, step = mlp
    path = sd.export(step, tmp_path / "mlp_step.py")
    values = mlp_values(6, 3, 5, 4, seed=7)
    np.savez(tmp_path / "values.npz", *values)
    script = textwrap.dedent(f"""
        import sys
        sys.modules["symdiff"] = None  # importing symdiff now fails: the module must stand alone
        sys.modules["codegen"] = None
        sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np
        import mlp_step
        data = np.load({str(tmp_path / "values.npz")!r})
        values = [data[f"arr_{{k}}"] for k in range(6)]
        loss = mlp_step.train_step(*values)
        np.save({str(tmp_path / "out.npy")!r}, np.array([loss] + [v.sum() for v in values[2:]]))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    expected_loss = step(*values)
    got = np.load(tmp_path / "out.npy")
    assert got[0] == expected_loss
    np.testing.assert_array_equal(got[1:], [v.sum() for v in values[2:]])
    assert path.read_text() == step.source


def test_float32_and_libm_variants():
    inputs, loss = mlp_graph(3, 5, 4, dtype="float32")
    params = list(inputs[2:])
    grads = sd.grad(loss, params)
    values = mlp_values(5, 3, 5, 4, dtype=np.float32)
    want = sd.evaluate([loss] + grads, dict(zip(inputs, values)))
    for libm in (False, True):
        got = sd.compile(inputs, [loss] + grads, libm=libm, fastmath=not libm)(*values)
        assert got[0].dtype == np.float32 and all(g.dtype == np.float32 for g in got[1:])
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)


def test_long_graphs_are_split_into_bounded_functions():
    x = sd.tensor("x", ("n",))
    acc = x
    outputs = []
    for k in range(40):  # 40 separate reductions: too many lines for one function
        acc = sd.sin(acc) + 0.1 * k
        outputs.append(sd.sum(acc * acc))
    fn = sd.compile([x], outputs)
    assert "def _part1(" in fn.source
    X = np.linspace(-1, 1, 7)
    np.testing.assert_allclose(fn(X), sd.evaluate(outputs, {x: X}), rtol=1e-12)


_CACHE_SCRIPT = """
import numpy as np, symdiff as sd
x = sd.tensor("x", ("n",)); w = sd.tensor("w", (3,))
fn = sd.compile([x, w], sd.sum(sd.tanh(x[:, None] * w)), backend="numba")
print(float(fn(np.arange(4.0), np.ones(3))), sum(fn.module._kernel.stats.cache_hits.values()))
"""


def _run_cached(cache, count=1):
    env = dict(os.environ, SYMDIFF_CACHE_DIR=str(cache))
    procs = [subprocess.Popen([sys.executable, "-c", _CACHE_SCRIPT], env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(count)]
    outs = [p.communicate(timeout=600)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    return outs


def test_numba_cache_reuse_corruption_and_concurrency(tmp_path):
    # (The native backend's cache: tests/test_native.py.)
    cache = tmp_path / "cache"
    first, second = _run_cached(cache, count=2)  # two processes compiling the same model at once
    assert first[0] == second[0]
    (hit,) = _run_cached(cache)
    assert hit == [first[0], "1"]  # a new process loads the machine code from disk
    (kernel,) = cache.glob("*/*/kernel.py")
    kernel.write_text(kernel.read_text()[:200])  # truncated source
    assert _run_cached(cache)[0][0] == first[0]
    for blob in cache.glob("*/*/__pycache__/*.nb*"):
        blob.write_bytes(b"garbage")  # damaged Numba cache files
    assert _run_cached(cache)[0][0] == first[0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_blas_path_with_transposed_and_batched_operands(dtype):
    # Products above SMALL_MATMUL multiply-adds go to BLAS; the gradients read x.T and W.T as
    # F-contiguous operands, and the batched product slices a 3-d array per matrix.
    x = sd.tensor("x", ("batch", 30), dtype)
    W = sd.tensor("W", (30, 20), dtype)
    V = sd.tensor("V", (3, 20, 25), dtype)
    h = sd.tanh(x @ W)
    loss = sd.sum((h @ V) ** 2)
    outputs = [loss] + sd.grad(loss, [W, V])
    rng = np.random.default_rng(0)
    values = [rng.normal(size=s).astype(dtype) for s in ((40, 30), (30, 20), (3, 20, 25))]
    got = sd.compile([x, W, V], outputs)(*values)
    want = sd.evaluate(outputs, dict(zip([x, W, V], values)))
    tol = 1e-10 if dtype == "float64" else 2e-4
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_batches_that_are_one_matrix_product(backend):
    # (P, m, k) @ (k, n) with contiguous rows is one product of P*m rows, and (m, k) @ (P, k, 1) one product
    # (P, k) @ (m, k)^T; a transposed or strided batch is copied into C order first, then one product (never a
    # product per matrix). All equal the reference.
    A, W, B = sd.tensor("A", (5, "batch", 20)), sd.tensor("W", (20, 7)), sd.tensor("B", (6, 20, 1))
    M = sd.tensor("M", (9, 20))  # 20 terms per entry: more than a loop computes inline (plan.SMALL_CONTRACTION)
    outputs = [sd.tanh(A) @ W, M @ sd.sin(B), sd.swapaxes(sd.tanh(A), 0, 1) @ W, A[::2] @ W]
    fn = sd.compile([A, W, B, M], outputs, backend=backend)
    kernel = fn.source[fn.source.index("def _kernel"):]
    assert kernel.count("    gemm(") == 4 and kernel.count("        gemm(") == 0  # none in a batch loop
    r = np.random.default_rng(4)
    values = [r.normal(size=s) for s in ((5, 40, 20), (20, 7), (6, 20, 1), (9, 20))]
    for got, want in zip(fn(*values), sd.evaluate(outputs, dict(zip([A, W, B, M], values)))):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_scalar_updates_shared_scalars_concatenation_and_constant_outputs():
    # Regressions: a 0-d parameter updated in place; one scalar read by loops over unrelated shapes;
    # concatenation along axis 0 (compound index expressions must bind before strides).
    c, t = sd.tensor("c", ()), sd.tensor("t", (1,))
    a, b, x = sd.tensor("a", (4, 8)), sd.tensor("b", (8, 3)), sd.tensor("x", (3,))
    s = 1 - sd.power(0.9, sd.reshape(t, ()))
    stacked = sd.concatenate([sd.reshape(x * (i + 1.0), (1, 3)) for i in range(3)], axis=0)
    # ... and outputs that are constants (no array behind them).
    fn = sd.compile([c, t, a, b, x], [stacked, sd.constant(3.0), sd.constant(np.ones((1, 2)))],
                    {c: c + 1.0, a: a / s, b: b / s})
    C, T, A, B = np.array(2.0), np.array([1.0]), np.ones((4, 8)), np.ones((8, 3))
    out, three, ones = fn(C, T, A, B, np.array([1.0, 2.0, 3.0]))
    assert three == 3.0 and ones.shape == (1, 2) and np.all(ones == 1.0)
    np.testing.assert_array_equal(out, [[1, 2, 3], [2, 4, 6], [3, 6, 9]])
    assert float(C) == 3.0
    np.testing.assert_allclose(A, 10.0)
    np.testing.assert_allclose(B, 10.0)


_BLAS_ROUTE_SCRIPT = """
import numpy as np, symdiff as sd  # backend: $SYMDIFF_BACKEND
x, W = sd.tensor("x", ("batch", 30), "{dtype}"), sd.tensor("W", (30, 20), "{dtype}")
# matrix products and matrix-vector ones (gemv; a strided column of W, and its transposed gradients)
loss = sd.sum(sd.tanh(x @ W) ** 2) + sd.sum(sd.sin(x @ W[:, 3])) + sd.sum(sd.cos(W[:, 5] @ sd.transpose(x)))
# and a symmetric product (?syrk)
outputs = [loss, sd.transpose(x) @ x] + sd.grad(loss, [x, W])
# and an update by a scaled product (one BLAS call with beta = 1, or the product and a loop)
update = W - 0.1 * (sd.transpose(x) @ sd.tanh(x @ W))
fn = sd.compile([x, W], outputs, {{W: update}})
rng = np.random.default_rng(1)
values = [rng.normal(size=(40, 30)).astype("{dtype}"), rng.normal(size=(30, 20)).astype("{dtype}")]
want = sd.evaluate(outputs + [update], dict(zip([x, W], values)))
got = list(fn(*values)) + [values[1]]
print(fn.module.BLAS_ROUTE, max(float(np.max(abs(g - w) / (1 + abs(w)))) for g, w in zip(got, want)))
"""


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("route", ["numpy-openblas", "scipy"])
def test_blas_routes_in_fresh_processes(route, backend, tmp_path):
    # NumPy's bundled OpenBLAS is the default; SYMDIFF_BLAS=scipy takes the SciPy Fortran adapter that
    # serves NumPy builds without one. Both must give the reference's numbers in float64 and float32.
    env = dict(os.environ, SYMDIFF_CACHE_DIR=str(tmp_path), SYMDIFF_BLAS="scipy" if route == "scipy" else "",
               SYMDIFF_BACKEND=backend)
    for dtype, tol in (("float64", 1e-12), ("float32", 1e-4)):
        out = subprocess.run([sys.executable, "-c", _BLAS_ROUTE_SCRIPT.format(dtype=dtype)], env=env,
                             capture_output=True, text=True, check=True).stdout.split()
        assert out[0] == route and float(out[1]) < tol


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_sign_of_infinities_zeros_and_nan_is_numpys(backend):
    # Regression: sign was (x > 0) - (x < 0) + x * 0, which made sign(+-inf) nan.
    x = sd.tensor("x", (5,))
    values = np.array([np.inf, -np.inf, -0.0, 0.0, np.nan])
    np.testing.assert_array_equal(sd.compile([x], sd.sign(x), backend=backend)(values), np.sign(values))


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_negative_fractional_and_square_exponents_match_numpy_at_ieee_edges(backend):
    # Regression: x**-2 ran as 1/(x*x) and x**-0.5 as 1/sqrt(x), which differ from pow at x = -0.0,
    # -inf (sign of the infinity, nan instead of 0) and where x*x overflows (0 instead of a subnormal).
    x = sd.tensor("x", (6,))
    values = np.array([-0.0, 0.0, -np.inf, np.inf, 1e160, 4.0])
    fn = sd.compile([x], [x ** -2.0, x ** -0.5], backend=backend)
    with np.errstate(all="ignore"):
        for got, exponent in zip(fn(values), (-2.0, -0.5)):
            np.testing.assert_array_equal(got, np.power(values, exponent))


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_maximum_and_minimum_propagate_nan_like_numpy(backend):
    # Regression: the kernels used Python's max/min, which return the other argument when the first is nan.
    x, y = sd.tensor("x", (4,)), sd.tensor("y", (4,))
    a, b = np.array([np.nan, 1.0, 2.0, -0.0]), np.array([0.0, np.nan, 1.0, 0.0])
    got_max, got_min = sd.compile([x, y], [sd.maximum(x, y), sd.minimum(x, y)], backend=backend)(a, b)
    np.testing.assert_array_equal(got_max[:3], np.maximum(a, b)[:3])
    np.testing.assert_array_equal(got_min[:3], np.minimum(a, b)[:3])


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_scalar_and_read_only_arguments_behave_alike_on_both_backends(backend):
    x, n = sd.tensor("x", ("k",)), sd.tensor("n", (), "int64")
    fn = sd.compile([x, n], sd.sum(x) * sd.cast(n, "float64"), backend=backend)
    frozen = np.arange(3.0)
    frozen.flags.writeable = False
    assert fn(frozen, 2) == 6.0 and fn(frozen, np.int64(2)) == 6.0  # read-only inputs that are only read
    with pytest.raises(TypeError, match="'n'.*int64"):  # was silently truncated to 2 through Numba
        fn(frozen, 2.7)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_constant_outputs_are_fresh_writable_arrays(backend):
    # Regression: a constant output came back as a read-only view of the module's constant (Numba) or a
    # copy made by the native host side: the two backends differed. It is now copied like inputs and views.
    x = sd.tensor("x", (2,))
    fn = sd.compile([x], [sd.sum(x), sd.constant(np.array([[1.0, 2.0], [3.0, 4.0]]))], backend=backend)
    first = fn(np.ones(2))[1]
    first[0, 0] = 99.0
    second = fn(np.ones(2))[1]
    np.testing.assert_array_equal(second, [[1.0, 2.0], [3.0, 4.0]])
    assert not np.shares_memory(first, second)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_constant_labels_are_checked_once_when_compiled(backend):
    # labels known when compiling (a sparse derivative's gather) are range-checked then, so the gather loop has no
    # branch; constant labels out of range still raise when called, as the reference evaluator does
    x = sd.tensor("x", (2, 4))
    fine = sd.take_along_axis(x, sd.constant(np.array([[3], [0]])), axis=1)
    fn = sd.compile([x], fine, backend=backend)
    values = np.arange(8.0).reshape(2, 4)
    np.testing.assert_array_equal(fn(values), [[3.0], [4.0]])
    kernel = fn.source[fn.source.index("def _kernel"):fn.source.index("def _checked_args")]
    assert "take_along_axis" in kernel and "raise" not in kernel
    bad = sd.take_along_axis(x, sd.constant(np.array([[4], [0]])), axis=1)
    with pytest.raises(IndexError, match=r"out of range \[0, 4\) on axis 1") as compiled:
        sd.compile([x], bad, backend=backend)(values)
    with pytest.raises(IndexError) as reference:
        sd.evaluate(bad, {x: values})
    assert str(reference.value).startswith(str(compiled.value))


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_reductions_over_leading_axes_add_each_element_into_its_entry(backend):
    # sum/max over the batch (a bias gradient) needs no accumulator variable per entry; only a reduction of
    # trailing axes (here axis 2 of the (0, 2) sum) has one. nan and -0.0 come out as NumPy has them.
    x = sd.tensor("x", ("batch", 3, 2))
    outputs = [sd.sum(sd.exp(x), axis=0), sd.max(2.0 * x, axis=(0, 1)), sd.sum(x, axis=(0, 2)), sd.min(x, axis=0)]
    fn = sd.compile([x], outputs, backend=backend)
    lines = [line.strip() for line in fn.source.splitlines()]
    accumulators = {line.split(" = ")[0] for line in lines if line.startswith("_acc")}
    (trailing,) = [line.split(": n")[1].split(" ")[0] for line in lines if line.startswith("# sum over axes (0, 2)")]
    assert accumulators == {f"_acc{trailing}"}
    value = np.random.default_rng(13).normal(size=(4, 3, 2))
    value[1, 2, 0], value[:, 0, 1] = np.nan, -0.0
    for got, want in zip(fn(value), sd.evaluate(outputs, {x: value})):
        np.testing.assert_array_max_ulp(got, want, 1)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
