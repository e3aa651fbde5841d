"""A parameter updated by a scaled matrix product, ``W - s * (A @ B)`` (an SGD step of a layer's weights), is one BLAS
call adding ``-s * A @ B`` to W (beta = 1): no array for the product and no pass over W after it. When BLAS does not
take the product at run time (a small one, a layout BLAS cannot read, SciPy's BLAS in a printed module) the product
and the update loop run as without the fusion."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symdiff as sd

BACKENDS = ["native", "numba"]


def _fused(fn) -> int:
    return fn.source.count("if not blas_product(")


def _run(fn, inputs, feed):
    args = [feed[n].copy() for n in inputs]
    return fn(*args), args


def _check_against_evaluate(inputs, outputs, updates, feed, rtol):
    """Both backends agree bit for bit and with the reference interpreter; returns the native function."""
    results = {}
    for backend in BACKENDS:
        fn = sd.compile(inputs, outputs, updates, backend=backend)
        results[backend] = (fn, *_run(fn, inputs, feed))
    want = sd.evaluate(list(outputs) + list(updates.values()), feed)
    (native, got, native_args), (_, numba_got, numba_args) = results["native"], results["numba"]
    for a, b in zip(native_args, numba_args):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got, numba_got)
    np.testing.assert_allclose(got, want[0], rtol=rtol)
    position = {id(n): k for k, n in enumerate(inputs)}
    for (target, _), new in zip(updates.items(), want[len(outputs):]):
        np.testing.assert_allclose(native_args[position[id(target)]], new, rtol=rtol, atol=rtol)
    return native


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("batch", [16, 1, 0])
def test_an_sgd_step_of_a_layer_adds_the_scaled_product_to_its_weights(dtype, batch):
    rng = np.random.default_rng(3)
    x = sd.tensor("x", ("batch", 40), dtype)
    y = sd.tensor("y", ("batch", 30), dtype)
    w = sd.tensor("w", (40, 30), dtype)
    lr = sd.tensor("lr", (), dtype)
    loss = sd.sum((x @ w - y) ** 2)
    updates = {w: w - lr * sd.grad(loss, w)}  # the gradient xᵀ @ (2 (x w - y)), scaled by an argument
    feed = {x: rng.standard_normal((batch, 40)).astype(dtype), y: rng.standard_normal((batch, 30)).astype(dtype),
            w: rng.standard_normal((40, 30)).astype(dtype), lr: np.asarray(0.01, dtype)}
    fn = _check_against_evaluate([x, y, w, lr], [loss], updates, feed, 1e-5 if dtype == "float32" else 1e-12)
    assert _fused(fn) == 1
    assert " matmul (40, 30) =" not in fn.source.split("if not blas_product(")[0]  # no product before the update


@pytest.mark.parametrize("batch", [2, 60])
def test_a_product_blas_cannot_take_falls_back_to_the_product_and_the_loop(batch):
    # 10 x batch x 8 multiply-adds: at batch 2 the product is a loop nest (blas.SMALL_MATMUL), at 60 a BLAS call
    rng = np.random.default_rng(5)
    x = sd.tensor("x", ("batch", 10))
    g = sd.tensor("g", ("batch", 8))
    w = sd.tensor("w", (10, 8))
    updates = {w: w - 0.5 * (sd.transpose(x) @ g)}
    feed = {x: rng.standard_normal((batch, 10)), g: rng.standard_normal((batch, 8)), w: rng.standard_normal((10, 8))}
    fn = _check_against_evaluate([x, g, w], [sd.sum(w)], updates, feed, 1e-12)
    assert _fused(fn) == 1


def test_updates_that_read_their_target_or_other_shapes_are_not_fused():
    rng = np.random.default_rng(6)
    x = sd.tensor("x", ("batch", 8))
    w = sd.tensor("w", (8, 8))
    v = sd.tensor("v", (8, 8))
    u = sd.tensor("u", (8, 8))
    updates = {w: w - 0.1 * (w @ sd.transpose(x) @ x),  # reads w itself: written while read
               v: v - 0.1 * (sd.transpose(x) @ x),  # xᵀ x: a symmetric product (one triangle), not a gemm
               u: u + 0.1 * (sd.transpose(x) @ x) * 2.0}  # not W - s * P
    feed = {x: rng.standard_normal((20, 8)), w: rng.standard_normal((8, 8)), v: rng.standard_normal((8, 8)),
            u: rng.standard_normal((8, 8))}
    fn = _check_against_evaluate([x, w, v, u], [sd.sum(x)], updates, feed, 1e-12)
    assert _fused(fn) == 0


def test_an_update_fused_into_a_product_sees_the_values_before_the_step():
    # the loss and the returned weights are from before the step; the gradient's operands outlive their usual end
    rng = np.random.default_rng(7)
    x = sd.tensor("x", ("batch", 40))
    w = sd.tensor("w", (40, 30))
    h = sd.tanh(x @ w)
    loss = sd.sum(h * h)
    updates = {w: w - 0.1 * sd.grad(loss, w)}
    feed = {x: rng.standard_normal((64, 40)), w: rng.standard_normal((40, 30)) * 0.1}
    for backend in BACKENDS:
        fn = sd.compile([x, w], [loss, w, h], updates, backend=backend)
        assert _fused(fn) == 1
        args = [feed[x], feed[w].copy()]
        got_loss, got_w, got_h = fn(*args)
        want_loss, want_h, want_new = sd.evaluate([loss, h, updates[w]], feed)
        np.testing.assert_allclose(got_loss, want_loss, rtol=1e-12)
        np.testing.assert_array_equal(got_w, feed[w])
        np.testing.assert_allclose(got_h, want_h, rtol=1e-12)
        np.testing.assert_allclose(args[1], want_new, rtol=1e-12, atol=1e-15)


@settings(max_examples=int(os.environ.get("SYMDIFF_SOAK_EXAMPLES", "0")) or 24, deadline=None,
          derandomize="SYMDIFF_SOAK_EXAMPLES" not in os.environ, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def test_random_product_updates_equal_the_reference(data):
    # shapes on both sides of SMALL_OUTPUT (fused or not), batches on both sides of SMALL_MATMUL (BLAS or the
    # fallback), either operand layout, a right operand made by a row group, the scale a constant or an argument,
    # the weights also returned
    m, n = (data.draw(st.sampled_from([1, 3, 9, 40]), label=label) for label in ("rows", "columns"))
    batch = data.draw(st.sampled_from([0, 1, 3, 120]), label="batch")
    dtype = data.draw(st.sampled_from(["float64", "float32"]), label="dtype")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    x, g = sd.tensor("x", ("batch", m), dtype), sd.tensor("g", ("batch", n), dtype)
    w, s = sd.tensor("w", (m, n), dtype), sd.tensor("s", (), dtype)
    left = sd.transpose(x) if data.draw(st.booleans(), label="transposed left") else sd.sin(sd.transpose(x))
    scale = s if data.draw(st.booleans(), label="scale argument") else 0.25
    right = g if data.draw(st.booleans(), label="right an input") else sd.softmax(g, axis=-1)  # made by a row group
    updates = {w: w - scale * (left @ right)}
    g_updated = data.draw(st.booleans(), label="g updated too")  # an operand the step also writes
    if g_updated:
        updates[g] = g * 0.5
    outputs = [sd.sum(w * 2.0), w] if data.draw(st.booleans(), label="return w") else [sd.sum(x)]
    feed = {x: rng.standard_normal((batch, m)).astype(dtype), g: rng.standard_normal((batch, n)).astype(dtype),
            w: rng.standard_normal((m, n)).astype(dtype), s: np.asarray(0.5, dtype)}
    inputs = [x, g, w, s]
    want = sd.evaluate(outputs + [updates[w]] + ([updates[g]] if g_updated else []), feed)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    results = []
    for backend in BACKENDS:
        fn = sd.compile(inputs, outputs, updates, backend=backend)
        got, args = _run(fn, inputs, feed)
        changed = [args[2]] + ([args[1]] if g_updated else [])
        for a, b in zip(list(got) + changed, want):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(1, batch))
        results.append(list(got) + changed)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_scale_updated_in_the_same_step_is_read_before_its_update(backend):
    # lr is itself a parameter the step updates: W's update reads the old lr, and lr gets its new value
    rng = np.random.default_rng(9)
    x, g = sd.tensor("x", ("batch", 40)), sd.tensor("g", ("batch", 30))
    w, lr = sd.tensor("w", (40, 30)), sd.tensor("lr", ())
    decay = sd.tensor("decay", (30,))
    updates = {w: w - lr * (sd.transpose(x) @ g), lr: lr * 0.5, decay: decay * lr}
    feed = {x: rng.standard_normal((200, 40)), g: rng.standard_normal((200, 30)), w: rng.standard_normal((40, 30)),
            lr: np.asarray(0.1), decay: rng.standard_normal(30)}
    inputs = [x, g, w, lr, decay]
    fn = sd.compile(inputs, sd.sum(w), updates, backend=backend)
    assert _fused(fn) == 1
    args = [feed[n].copy() for n in inputs]
    fn(*args)
    for (target, _), want in zip(updates.items(), sd.evaluate(list(updates.values()), feed)):
        np.testing.assert_allclose(args[[id(n) for n in inputs].index(id(target))],
                                   want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_operand_made_in_a_row_group_keeps_all_its_rows(backend):
    # softmax(x v) is made by a row group (max, exp, sum, divide over each row); its only other reader, the product of
    # the fused update, runs after the group and reads it whole: it must not get one row of storage (it did: error 1.3)
    rng = np.random.default_rng(10)
    x, v, w = sd.tensor("x", ("batch", 40)), sd.tensor("v", (40, 30)), sd.tensor("w", (40, 30))
    updates = {w: w - 0.1 * (sd.transpose(x) @ sd.softmax(x @ v, axis=-1))}
    feed = {x: rng.standard_normal((64, 40)), v: rng.standard_normal((40, 30)), w: rng.standard_normal((40, 30))}
    fn = _check_against_evaluate([x, v, w], [sd.sum(x)], updates, feed, 1e-12)
    assert _fused(fn) == 1 and "row-fused passes" in fn.source


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_operand_updated_in_the_same_step_is_read_before_its_update(backend):
    # x and g are parameters the step also updates in place: W's product must read them before their updates
    rng = np.random.default_rng(11)
    x, g, w = sd.tensor("x", (64, 40)), sd.tensor("g", (64, 30)), sd.tensor("w", (40, 30))
    updates = {w: w - 0.1 * (sd.transpose(x) @ g), x: x * 0.5, g: sd.tanh(g)}
    feed = {x: rng.standard_normal((64, 40)), g: rng.standard_normal((64, 30)), w: rng.standard_normal((40, 30))}
    _check_against_evaluate([x, g, w], [sd.sum(w)], updates, feed, 1e-12)
