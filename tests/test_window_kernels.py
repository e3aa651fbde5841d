"""What convolution and pooling windows compile to: slices placed in zeros (``pad_slice``, the derivative of every
window) computed inline by the loops that read them (a sum of placed slices is one loop, never a zero-filled array
each); windows stacked on a length-1 axis as views, not copies; weight gradients summed over the batch by one
matrix product."""

import numpy as np
import pytest

import symdiff as sd
from symdiff.ops.registry import make


def _placed(u: sd.Node, shape: tuple, index: tuple) -> sd.Node:
    return make("pad_slice", [u], shape=shape, index=index)


def _index_sections(fn) -> list[str]:
    """The kernel's comments that head a section of its own for a placed slice (an inline one is a loop variable)."""
    return [line for line in fn.source.splitlines() if line.strip().startswith("# n") and " pad_slice " in line]


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_sums_of_placed_slices_are_one_loop_and_equal_the_reference(backend):
    u, v, s = sd.tensor("u", ("batch", 3, 4)), sd.tensor("v", ("batch", 2, 2)), sd.tensor("s", (3, 1))
    whole = (0, None, 1)
    outputs = [
        # unit steps at offsets, a stride of 2 with an offset, and one broadcast along the batch (stored once at
        # its own size: a broadcast read would recompute it per row)
        sd.tanh(_placed(u, ("batch", 5, 6), (whole, (1, 4, 1), (2, 6, 1)))
                + _placed(v, ("batch", 5, 6), (whole, (0, 3, 2), (1, 5, 2)))
                + _placed(s, (5, 6), ((2, 5, 1), (3, 4, 1)))),
        # negative steps (the derivative of a reversed slice): regression, they were read at the wrong entries
        sd.exp(_placed(u, ("batch", 5, 6), (whole, (4, None, -2), (5, 1, -1)))),
        # placed along the first axis, read by a reduction's loop
        sd.sum(sd.tanh(_placed(sd.exp(s), (5, 1), ((1, 4, 1), whole))), axis=-1),
    ]
    fn = sd.compile([u, v, s], outputs, backend=backend)
    assert [line.split()[2:] for line in _index_sections(fn)] == [["pad_slice", "(5,", "6)"]]
    r = np.random.default_rng(7)
    for batch in (1, 4):
        feed = {u: r.normal(size=(batch, 3, 4)), v: r.normal(size=(batch, 2, 2)), s: r.normal(size=(3, 1))}
        for got, want in zip(fn(*feed.values()), sd.evaluate(outputs, feed)):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def _tested_slices(source: str) -> int:
    """How many placed slices a printed kernel reads through a test per element (a select on their range)."""
    return sum(" pad_slice " in line and " if " in line for line in source.splitlines())


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_loop_over_slices_placed_along_its_last_axis_is_split_at_their_edges(backend):
    # the cotangent of a recurrent layer's gates is its four pieces placed side by side: the loop over the columns
    # runs in pieces, each reading every slice wholly inside or outside it, with no test per element
    whole = (0, None, 1)
    g = [sd.tensor(f"g{k}", ("batch", 3)) for k in range(4)]
    pieces = [_placed(g[k], ("batch", 12), (whole, (3 * k, 3 * k + 3, 1))) for k in range(4)]
    gates = sd.tanh(pieces[0] + pieces[1] + pieces[2] + pieces[3])
    fn = sd.compile(g, gates, backend=backend)
    assert _tested_slices(fn.source) == 0
    # overlapping pieces add cuts (here at 1, 2, 3, 5, 6: six pieces); a step of 2 and a reversed slice keep their
    # test in each piece; more pieces than a split allows, and a named last axis, are not split. All equal the
    # reference.
    overlapping = _placed(g[0], ("batch", 12), (whole, (2, 5, 1)))
    strided = _placed(g[1], ("batch", 12), (whole, (0, 6, 2)))
    reversed_ = _placed(g[2], ("batch", 12), (whole, (11, 8, -1)))
    first = _placed(sd.sum(g[3], axis=1, keepdims=True), ("batch", 12), (whole, (0, 1, 1)))
    many = [_placed(g[k % 4], ("batch", 30), (whole, (3 * k, 3 * k + 3, 1))) for k in range(10)]
    n = sd.tensor("n", (2, "width"))
    named = _placed(n, (4, "width"), ((1, 3, 1), whole))
    outputs = [sd.exp(overlapping + pieces[1] + strided + reversed_ + first), sd.cos(sum(many[1:], many[0])),
               sd.sin(named)]
    mixed = sd.compile([*g, n], outputs, backend=backend)
    assert _tested_slices(mixed.source) == 6 * 2 + 10 + 1
    r = np.random.default_rng(12)
    for batch in (0, 1, 5):
        feed = {**{k: r.normal(size=(batch, 3)) for k in g}, n: r.normal(size=(2, 7))}
        np.testing.assert_allclose(fn(*(feed[k] for k in g)), sd.evaluate(gates, feed), rtol=1e-13, atol=1e-13)
        for got, want in zip(mixed(*feed.values()), sd.evaluate(outputs, feed)):
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_convolution_and_pooling_gradients_read_their_windows_inline(backend):
    x, w = sd.tensor("x", ("batch", 7, 6, 2)), sd.tensor("w", (3, 3, 2, 4))
    y = sd.max_pool2d(sd.relu(sd.conv2d(x, w, stride=(1, 2), padding="same")), 2)
    loss = sd.sum(y * y)
    outputs = [loss, *sd.grad(loss, [x, w])]
    fn = sd.compile([x, w], outputs, backend=backend)
    assert _index_sections(fn) == []
    r = np.random.default_rng(8)
    feed = {x: r.normal(size=(3, 7, 6, 2)), w: r.normal(size=(3, 3, 2, 4))}
    for got, want in zip(fn(*feed.values()), sd.evaluate(outputs, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _products(source: str, heading: str) -> list[tuple[int, int]]:
    """For each section of a printed kernel whose comment contains ``heading``: how many matrix products it calls
    outside loops and inside them (its copies are loops; a product over a flattened batch is one call)."""
    lines = source.splitlines()
    counts = []
    for k, line in enumerate(lines):
        if line.lstrip().startswith("#") and heading in line:
            depth = len(line) - len(line.lstrip())
            section = [s for s in lines[k + 1:] if s.strip()]
            end = next((j for j, s in enumerate(section) if s.lstrip().startswith("#")), len(section))
            calls = [len(s) - len(s.lstrip()) for s in section[:end] if s.lstrip().startswith("gemm(")]
            counts.append((calls.count(depth), len(calls) - calls.count(depth)))
    return counts


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 1e-4)])
def test_weight_gradients_over_a_batch_are_one_matrix_product(backend, dtype, rtol):
    # sum over the batch axes of P @ Q (a dense layer over sequences, a convolution's kernel gradient, the input
    # weights' gradient of a recurrent layer: time-major views of batch-major inputs) is one product over the
    # flattened batch; an operand in another layout (strided, or P not a transposed array) is copied into one
    # first. All equal the reference.
    x, W = sd.tensor("x", ("batch", 5, 6), dtype), sd.tensor("W", (6, 4), dtype)
    loss = sd.sum(sd.tanh(x @ W) ** 2) + sd.sum(sd.sin(x[:, ::2] @ W))
    x4 = sd.reshape(x, ("batch", 5, 2, 3))  # two batch axes
    outputs = [loss, sd.grad(loss, W), sd.sum(sd.swapaxes(x4, -1, -2) @ sd.exp(x4), axis=(0, 1), keepdims=True),
               sd.sum(sd.transpose(x, (1, 2, 0)) @ sd.transpose(sd.exp(x), (1, 0, 2)), axis=0),
               sd.sum(x @ sd.swapaxes(sd.cos(x), -1, -2), axis=0)]
    fn = sd.compile([x, W], outputs, backend=backend)
    assert _products(fn.source, "Σ over the batch of") == [(1, 0)] * 5
    r = np.random.default_rng(9)
    for batch in (0, 1, 7):
        feed = {x: r.normal(size=(batch, 5, 6)).astype(dtype), W: r.normal(size=(6, 4)).astype(dtype)}
        for got, want in zip(fn(*feed.values()), sd.evaluate(outputs, feed)):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(want)))))


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_batch_sum_of_outer_products_of_unit_axis_views_steps_through_the_rows(backend):
    # Regression (found in review): the sum over l of x[l]ᵀ·y[l] as products of expand_dims views read the views'
    # stride of their length-1 axis (0) as the step over the flattened batch once such views counted as C order:
    # every l read row 0 of y
    steps, m, n = 50, 40, 30
    x, y = sd.tensor("x", (steps, m)), sd.tensor("y", (steps, n))
    outputs = [sd.sum(sd.expand_dims(x, -1) @ sd.expand_dims(y, 1), axis=0),
               sd.sum(sd.reshape(sd.transpose(x), (m, steps, 1)).transpose((1, 0, 2)) @ sd.reshape(y, (steps, 1, n)),
                      axis=0)]
    fn = sd.compile([x, y], outputs, backend=backend)
    r = np.random.default_rng(3)
    feed = {x: r.normal(size=(steps, m)), y: r.normal(size=(steps, n))}
    for got, want in zip(fn(*feed.values()), sd.evaluate(outputs, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got, feed[x].T @ feed[y], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_time_major_product_of_batch_major_sequences_is_one_product(backend):
    # a recurrent layer projects every step's input at once: (T, N, F) @ (F, G) over the time-major view of
    # batch-major inputs is one product of a copy in C order, not one product per step
    x, W = sd.tensor("x", ("batch", 5, 20)), sd.tensor("W", (20, 4))  # 20 terms: BLAS, not an inline product
    projected = sd.transpose(x, (1, 0, 2)) @ W
    fn = sd.compile([x, W], projected, backend=backend)
    assert _products(fn.source, "# matmul") == [(1, 0)]
    r = np.random.default_rng(11)
    for batch in (0, 1, 6):
        feed = {x: r.normal(size=(batch, 5, 20)), W: r.normal(size=(20, 4))}
        np.testing.assert_allclose(fn(*feed.values()), sd.evaluate(projected, feed), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_reshapes_adding_or_dropping_unit_axes_of_strided_views_are_views(backend):
    x = sd.tensor("x", ("batch", 6, 5))
    window = x[:, 1::2, ::-2]  # a strided view
    stacked = sd.reshape(window, ("batch", 1, 3, 1, 3))  # unit axes only: a view of the same memory
    outputs = [sd.exp(stacked), sd.reshape(stacked, ("batch", 9)), sd.reshape(sd.transpose(x), (5, 1, 6, "batch"))]
    fn = sd.compile([x], outputs, backend=backend)
    copies = [line for line in fn.source.splitlines() if line.strip().startswith("# n") and " reshape " in line]
    assert len(copies) == 1 and "('batch', 9)" in copies[0]  # only the reshape that merges axes copies
    value = np.random.default_rng(10).normal(size=(4, 6, 5))
    (exp_got, *views), (exp_want, *views_want) = fn(value), sd.evaluate(outputs, {x: value})
    np.testing.assert_array_max_ulp(exp_got, exp_want, 1)  # NumPy's own exp differs by CPU (AVX-512: its SIMD exp)
    for got, want in zip(views, views_want):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_loop_never_reads_shifted_entries_of_what_it_writes(backend):
    # Regressions (found by the differential soak): a placed slice reads its array at other indices, so (1) a node
    # reading a reversed copy of another may not share that node's loop, and (2) an update reading its own
    # parameter reversed may not be written in place.
    P = sd.tensor("P", (3, 3), "float32")
    gram = sd.transpose(P) @ P
    loss = sd.sum(gram ** 2) + sd.sum(gram[..., ::-1] ** 2)
    updates = {P: P - 0.1 * sd.grad(loss, P)}
    Q = sd.tensor("Q", (4,))
    fn = sd.compile([P], [loss], updates, backend=backend)
    flip = sd.compile([Q], [sd.sum(Q)], {Q: Q * 2.0 + _placed(Q[::-1], (4,), ((3, None, -1),))}, backend=backend)
    value = np.random.default_rng(11).standard_normal((3, 3)).astype("float32")
    want = sd.evaluate(updates[P], {P: value})
    fn(value)
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5)
    q = np.arange(4.0)
    flip(q)
    np.testing.assert_array_equal(q, np.arange(4.0) * 3.0)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_concatenation_writes_its_output_in_one_pass(backend):
    # im2col's patches: each output position gets its parts side by side (one walk over the output, not one per part)
    x = sd.tensor("x", ("batch", 5, 5, 3))
    patches = sd.concatenate([x[:, 0:4, 0:4, :], x[:, 1:5, 0:4, :], x[:, 0:4, 1:5, :] * 2.0], axis=3)
    rows = sd.concatenate([x[:, 0:2], sd.exp(x[:, 3:5])], axis=1)
    fn = sd.compile([x], [patches, rows], backend=backend)
    lines = fn.source.splitlines()
    for label in ("concatenate ('batch', 4, 4, 9)", "concatenate ('batch', 4, 5, 3)"):
        start = next(k for k, line in enumerate(lines) if line.strip().startswith("# n") and label in line)
        depth = len(lines[start]) - len(lines[start].lstrip())
        body = lines[start + 1:]
        section = body[:next(k for k, line in enumerate(body)  # up to the next section's comment
                             if len(line) - len(line.lstrip()) < depth or line.startswith(" " * depth + "#"))]
        assert sum(line.strip().startswith("for _i0 ") for line in section) == 1, "\n".join(section)
    value = np.random.default_rng(12).normal(size=(2, 5, 5, 3))
    for got, want in zip(fn(value), sd.evaluate([patches, rows], {x: value})):
        np.testing.assert_array_max_ulp(got, want, 1)
