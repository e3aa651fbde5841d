"""Matrix products with a few multiply-adds per entry (plan.is_small_product: a first convolution's 3 x 3 windows of
one channel, a layer with a handful of inputs) are computed by the loops that read them, not by BLAS: each entry
reads its operands at other indices than the loop's, so such a loop must never be the one writing an operand (a
fused neighbour loop, an in-place update, a row group's one row of storage)."""

import numpy as np
import pytest

import symdiff as sd
from symdiff.codegen.plan import SMALL_CONTRACTION, SMALL_OUTPUT

BACKENDS = ["native", "numba"]


def computes_a_product_inline(line: str) -> bool:
    """A printed kernel line computing a matmul node's entry (its note names the node; not a comment or an offset)."""
    return " matmul " in line and not line.strip().startswith(("#", "_a"))


def _products(source: str) -> tuple[int, int]:
    """(products computed inline by a loop, products computed by a gemm call) in a printed kernel."""
    lines = source.splitlines()
    return sum(map(computes_a_product_inline, lines)), sum(line.strip().startswith("gemm(") for line in lines)


def _check(fn, inputs, outputs, feed, rtol):
    got = fn(*(feed[i] for i in inputs))
    want = sd.evaluate(outputs, feed)
    for g, w in zip(got if isinstance(got, list | tuple) else [got], want):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_small_products_are_computed_inline_and_equal_the_reference(backend, dtype):
    r = np.random.default_rng(4)
    x = sd.tensor("x", ("batch", 3), dtype=dtype)
    w = sd.tensor("w", (3, 5), dtype=dtype)
    s = sd.tensor("s", (2, "rows", SMALL_CONTRACTION), dtype=dtype)  # batched, the most terms inlined
    v = sd.tensor("v", (SMALL_CONTRACTION, 4), dtype=dtype)
    u = sd.tensor("u", (1, 4, 2), dtype=dtype)  # a broadcast batch axis on the right
    one = sd.tensor("one", ("batch", 1), dtype=dtype)  # a single term
    row = sd.tensor("row", (1, 3), dtype=dtype)
    big = sd.tensor("big", ("batch", SMALL_CONTRACTION + 1), dtype=dtype)  # one term too many: BLAS
    wide = sd.tensor("wide", (SMALL_CONTRACTION + 1, 2), dtype=dtype)
    inputs = [x, w, s, v, u, one, row, big, wide]
    outputs = [sd.tanh(x @ w), sd.exp(s @ v) @ u, one @ row, sd.tanh(big @ wide)]
    fn = sd.compile(inputs, outputs, backend=backend)
    assert _products(fn.source) == (4, 1)
    rtol = 1e-12 if dtype == "float64" else 2e-5
    for batch, rows in ((0, 2), (1, 1), (4, 3)):
        feed = {k: r.normal(size=tuple(batch if d == "batch" else rows if d == "rows" else d for d in k.shape))
                .astype(dtype) for k in inputs}
        _check(fn, inputs, outputs, feed, rtol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_loop_never_writes_what_its_small_products_read(backend):
    # each of these read wrong entries when products first became inline (fails without plan.shifted_reads /
    # rows.cross_row_reads): a product fused into the loop that computes its left operand, an in-place update
    # reading the parameter it overwrites through a product, and a row group holding one row of a right operand
    r = np.random.default_rng(5)
    x, w = sd.tensor("x", ("batch", 4)), sd.tensor("w", (4, 4))
    fused = sd.tanh(x) @ w
    fn = sd.compile([x, w], [fused], backend=backend)
    feed = {x: r.normal(size=(3, 4)), w: r.normal(size=(4, 4))}
    _check(fn, [x, w], [fused], feed, 1e-12)

    v = sd.tensor("v", (3, 3))
    update = sd.compile([v], [sd.sum(v)], updates={v: v - 0.1 * (v @ v)}, backend=backend)
    before = r.normal(size=(3, 3))
    after = before.copy()
    update(after)
    np.testing.assert_allclose(after, before - 0.1 * before @ before, rtol=1e-12, atol=1e-12)

    a, b = sd.tensor("a", (4, 4)), sd.tensor("b", (4, 4))
    right = sd.exp(b) * 2.0
    rows = sd.sin(sd.tanh(a) @ right) + sd.sum(right, axis=1, keepdims=True)
    fn = sd.compile([a, b], [rows], backend=backend)
    _check(fn, [a, b], [rows], {a: r.normal(size=(4, 4)), b: r.normal(size=(4, 4))}, 1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_first_convolution_of_one_channel_is_fused_with_its_bias_and_activation(backend):
    # 9 terms per entry: computed by the bias + relu loop, no product written out; its gradients by central
    # differences, the compiled step equal to the reference
    r = np.random.default_rng(6)
    x, k, bias = sd.tensor("x", ("batch", 6, 6, 1)), sd.tensor("k", (3, 3, 1, 4)), sd.tensor("bias", (4,))
    y = sd.relu(sd.conv2d(x, k) + bias)
    loss = sd.sum(sd.tanh(y))
    outputs = [loss, *sd.grad(loss, [k, bias])]
    fn = sd.compile([x, k, bias], outputs, backend=backend)
    assert _products(fn.source)[0] == 1
    feed = {x: r.normal(size=(2, 6, 6, 1)), k: r.normal(size=(3, 3, 1, 4)), bias: r.normal(size=4)}
    _check(fn, [x, k, bias], outputs, feed, 1e-12)
    sd.check_grad(loss, [k, bias], feed)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_products_with_few_entries_are_loops_and_the_kernel_binds_no_blas(backend, dtype):
    # the README's one-layer model: X @ W has 3 terms per entry (inline), its gradient Xᵀ @ G sums over the batch
    # into 3 x 4 entries (at most SMALL_OUTPUT: a loop nest accumulating the product); the module carries no BLAS
    # binding. One more entry than SMALL_OUTPUT is a BLAS product.
    x, w = sd.tensor("x", ("batch", 3), dtype=dtype), sd.tensor("w", (3, 4), dtype=dtype)
    loss = sd.sum(sd.tanh(x @ w) ** 2)
    outputs = [loss, sd.grad(loss, w)]
    fn = sd.compile([x, w], outputs, backend=backend)
    assert _products(fn.source) == (1, 0) and "openblas" not in fn.source and "scipy" not in fn.source
    wide = sd.tensor("wide", ("batch", SMALL_OUTPUT + 1), dtype=dtype)
    big = sd.compile([x, wide], [sd.transpose(x) @ wide, sd.transpose(x[:, :1]) @ wide[:, :SMALL_OUTPUT]],
                     backend=backend)
    assert _products(big.source) == (0, 1)  # 3 x 65 entries: BLAS; 1 x 64: loops
    r = np.random.default_rng(8)
    rtol = 1e-11 if dtype == "float64" else 1e-4
    for batch in (0, 1, 7, 300):
        feed = {x: r.normal(size=(batch, 3)).astype(dtype), w: r.normal(size=(3, 4)).astype(dtype)}
        _check(fn, [x, w], outputs, feed, rtol)
        feed = {x: feed[x], wide: r.normal(size=(batch, SMALL_OUTPUT + 1)).astype(dtype)}
        _check(big, [x, wide], [sd.transpose(x) @ wide, sd.transpose(x[:, :1]) @ wide[:, :SMALL_OUTPUT]], feed, rtol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_products_sum_with_fused_multiply_adds(backend):
    # each multiply-add after the first is one fmuladd, as BLAS computes them: here 1 * -(1 + 2**-11) + a * a with
    # a = 1 + 2**-12 is exactly 2**-24 with an FMA, and 0 when a * a is rounded first (to 1 + 2**-11)
    import llvmlite.binding as llvm

    if not llvm.get_host_cpu_features().get("fma", False):
        pytest.skip("this CPU has no FMA: LLVM's fmuladd is a multiply and an add")
    a = np.float32(1 + 2.0**-12)
    x = sd.tensor("x", ("batch", 2), dtype="float32")
    y = sd.tensor("y", (2, 1), dtype="float32")
    fn = sd.compile([x, y], x @ y, backend=backend)
    assert _products(fn.source) == (1, 0)
    got = fn(np.array([[1, a]], np.float32), np.array([[-(1 + 2.0**-11)], [a]], np.float32))
    assert got.dtype == np.float32 and got[0, 0] == np.float32(2.0**-24)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_transposed_right_operand_is_copied_into_rows_before_the_loop(backend, dtype):
    # G @ Wᵀ (a layer's input gradient) reads W down its columns: each vector lane a gather. The loop reads a C-order
    # copy of Wᵀ made once before it instead (each row of the copy contiguous along the loop's innermost axis)
    r = np.random.default_rng(8)
    g = sd.tensor("g", ("batch", 10), dtype=dtype)
    w = sd.tensor("w", (32, 10), dtype=dtype)
    out = sd.tanh(g @ sd.transpose(w))
    fn = sd.compile([g, w], out, backend=backend)
    assert _products(fn.source) == (1, 0)
    loop = fn.source.split("# fused elementwise ('batch', 32)")[1]
    copy, body = loop.split("for _i0 in range(_d0):", 1)
    assert "_flat_w[" in copy and "_flat_w[" not in body  # w is read by the copy only
    feed = {g: r.standard_normal((7, 10)).astype(dtype), w: r.standard_normal((32, 10)).astype(dtype)}
    _check(fn, [g, w], [out], feed, 1e-5 if dtype == "float32" else 1e-12)
