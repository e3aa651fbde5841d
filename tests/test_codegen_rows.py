"""Row fusion (codegen/rows.py): row-local passes share one loop over rows and one row of storage."""

import numpy as np

import symdiff as sd


def test_softmax_runs_as_passes_over_each_row_with_one_row_of_storage():
    x = sd.tensor("x", ("batch", 10))
    fn = sd.compile([x], sd.softmax(x, axis=-1))
    assert "row-fused passes" in fn.source
    rng = np.random.default_rng(0)
    for batch in (1, 7, 300):
        values = rng.normal(size=(batch, 10)) * 5
        np.testing.assert_allclose(fn(values), sd.evaluate(sd.softmax(x, axis=-1), {x: values}), rtol=1e-14)
        # max, exp and sum live in one row each: the workspace does not grow with the batch
        assert sum(a.size for a in fn.module._allocate(batch)) <= 2 * 10 + 2


def test_a_pass_reading_a_whole_reduced_array_is_not_row_fused():
    # sum over axis 1 without keepdims gives a (10,) vector that the next loop broadcasts along its
    # columns: row i needs every row's sum, so the passes must stay separate loops.
    x = sd.tensor("x", (10, 10))
    y = x * sd.sum(sd.exp(x), axis=1) + sd.max(x, axis=1, keepdims=True)
    values = np.random.default_rng(1).normal(size=(10, 10))
    np.testing.assert_allclose(sd.compile([x], y)(values), sd.evaluate(y, {x: values}), rtol=1e-14)


def test_log_softmax_cross_entropy_gradient_through_row_groups():
    logits, labels = sd.tensor("z", ("batch", 5)), sd.tensor("t", ("batch",), "int64")
    loss = sd.mean(-sd.take_along_axis(sd.log_softmax(logits, axis=-1), sd.expand_dims(labels, 1), axis=1))
    outputs = [loss, *sd.grad(loss, [logits])]
    fn = sd.compile([logits, labels], outputs)
    assert fn.source.count("row-fused passes") >= 2  # forward and backward
    rng = np.random.default_rng(2)
    z, t = rng.normal(size=(33, 5)) * 3, rng.integers(0, 5, size=33)
    for got, want in zip(fn(z, t), sd.evaluate(outputs, {logits: z, labels: t})):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
