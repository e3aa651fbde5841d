"""Calls split over rows (symdiff/parallel/): shards of a batch in threads, then the combining kernel, compute what
the one kernel computes (to rounding: partial sums add in another order), or the call runs the one kernel."""

import multiprocessing
import pickle
import sys
import threading
import warnings

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn, parallel
from symdiff.codegen.llvm.blas_symbols import openblas_threads
from symdiff.parallel import SplitCall, plan_split


def _step(model, x, y, lr=0.1, outputs=()):
    params = list(model.parameters.values())
    loss = nn.softmax_cross_entropy(model(x), y)
    updates = {p: p - lr * g for p, g in zip(params, sd.grad(loss, params))}
    return [x, y, *params], [loss, *outputs], updates


def _run_both(inputs, outputs, updates, args, steps=2, backend="native"):
    """(results, parameters) of the one kernel and of two shards, over ``steps`` calls on copies of ``args``."""
    runs = []
    for threads in (1, 2):
        fn = sd.compile(inputs, outputs, updates, threads=threads, backend=backend)
        assert isinstance(fn._call, SplitCall) == (threads == 2)
        values = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        for _ in range(steps):
            results = fn(*values)
        runs.append((results, values))
    return runs


def _close(a, b):
    for u, v in zip(a, b):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=1e-12, atol=1e-13)


def _mlp_problem(rows=7):
    x, y = sd.tensor("x", ("batch", 5)), sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([nn.Dense(5, 6, activation="tanh", name="p_l1"), nn.Dense(6, 3, name="p_l2")], name="p")
    rng = np.random.default_rng(0)
    args = [rng.standard_normal((rows, 5)), rng.integers(0, 3, rows)]
    args += [rng.standard_normal(p.shape) for p in model.parameters.values()]
    return model, x, y, args


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_training_step_split_in_two_computes_what_the_one_kernel_computes(backend):
    # the mean loss divides by the whole call's rows (an element count of the batch dim), not a shard's
    model, x, y, args = _mlp_problem()
    (one, p_one), (two, p_two) = _run_both(*_step(model, x, y), args, backend=backend)
    _close(one, two)
    _close(p_one, p_two)
    assert not np.array_equal(p_one[2], args[2])  # the step moved the parameters, once per call


def test_a_split_call_draws_the_one_kernels_dropout_mask():
    x, y = sd.tensor("x", ("batch", 5)), sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([nn.Dense(5, 6, activation="tanh", name="pd_l1"), nn.Dropout(0.5, name="pd_drop"),
                           nn.Dense(6, 3, name="pd_l2")], name="pd")
    params = list(model.parameters.values())
    loss = nn.softmax_cross_entropy(model(x, training=True), y)
    inputs = [x, y, nn.dropout_seed(), *params]
    rng = np.random.default_rng(2)
    args = [rng.standard_normal((9, 5)), rng.integers(0, 3, 9), 7] + [rng.standard_normal(p.shape) for p in params]
    updates = {p: p - 0.1 * g for p, g in zip(params, sd.grad(loss, params))}
    (one, p_one), (two, p_two) = _run_both(inputs, [loss, model(x, training=True)], updates, args, steps=1)
    _close(one, two)  # the dropped activations: the same entries in both
    _close(p_one, p_two)


def test_outputs_with_the_batch_dim_are_joined_in_row_order_on_its_axis():
    model, x, y, args = _mlp_problem(rows=5)
    logits = model(x)
    inputs, outputs, updates = _step(model, x, y, outputs=(logits, sd.transpose(logits), sd.max(logits, axis=0),
                                                       sd.min(logits, axis=0), sd.sum(x)))
    (one, _), (two, _) = _run_both(inputs, outputs, updates, args, steps=1)
    assert two[2].shape == (3, 5)  # batch on axis 1: joined there
    _close(one, two)


def test_convolution_and_recurrent_steps_split():
    rng = np.random.default_rng(1)
    x, y = sd.tensor("x", ("batch", 6, 6, 1)), sd.tensor("y", ("batch",), "int64")
    cnn = nn.Sequential([nn.Conv2D(1, 2, 3, activation="relu", name="pc"), nn.MaxPool2D(2, name="pp"),
                         nn.Flatten(name="pf"), nn.Dense(8, 3, name="pd")], name="pcnn")
    args = [rng.standard_normal((4, 6, 6, 1)), rng.integers(0, 3, 4)]
    args += [rng.standard_normal(p.shape) * 0.5 for p in cnn.parameters.values()]
    (one, p_one), (two, p_two) = _run_both(*_step(cnn, x, y), args)
    _close(one, two)
    _close(p_one, p_two)
    s = sd.tensor("s", ("batch", 4, 2))
    lstm = nn.Sequential([nn.LSTM(2, 3, name="pl"), nn.Dense(3, 3, name="pld")], name="plstm")
    args = [rng.standard_normal((5, 4, 2)), rng.integers(0, 3, 5)]
    args += [rng.standard_normal(p.shape) * 0.5 for p in lstm.parameters.values()]
    (one, p_one), (two, p_two) = _run_both(*_step(lstm, s, y), args)
    _close(one, two)
    _close(p_one, p_two)


def test_graphs_that_mix_rows_run_the_one_kernel():
    x = sd.tensor("x", ("batch", 3))
    w = sd.tensor("w", (3,))
    centered = x - sd.mean(x, axis=0)  # every row reads a sum over the rows
    assert plan_split([x, w], [sd.sum(centered * w)], [], 2) is None
    s = sd.tensor("s", (), "int64")  # random numbers with the batch on another axis than the first
    assert plan_split([x, w, s], [sd.sum(sd.random_uniform(s, (3, "batch")) @ x * w)], [], 2) is None
    bn = nn.BatchNorm(3, name="pbn")
    out = sd.sum(bn(x, training=True))
    assert plan_split([x, *bn.parameters.values()], [out], list(bn.state_updates().items()), 2) is None
    t = sd.tensor("t", ("batch", "time", 3))  # a count of another named dim, read after the sum: no combine
    assert plan_split([t, w], [sd.sum(t * w) / sd.count(t, 1)], [], 2) is None
    assert plan_split([t, w], [sd.sum(sd.mean(t, axis=1) * w)], [], 2) is not None  # ... read by the rows: shards
    assert plan_split([x, w], [sd.sum(x * w)], [], 2) is not None
    assert plan_split([w], [sd.sum(w)], [], 2) is None  # no batch dim: nothing to share


def test_rows_reading_other_rows_or_counting_them_run_the_one_kernel():
    # found by the differential soak: the batch dim on two axes (a product or broadcast of the rows with their
    # transpose) mixes rows, where shards see only their own block; a loop over the rows as steps (the sequence
    # dropped: the step ignores it) depends on how many rows there are
    x, w = sd.tensor("x", ("batch", 3)), sd.tensor("w", (3,))
    a = sd.sum(x, axis=1, keepdims=True)
    loop = sd.scan(lambda h, x_t: sd.tanh(h), w, x, keep="last")
    X, W = np.random.default_rng(0).standard_normal((5, 3)), np.arange(3.0)
    for outputs in ([x @ sd.transpose(x)], [sd.sum(a * sd.transpose(a))], [sd.sum(x * w) + sd.sum(loop)]):
        assert plan_split([x, w], outputs, [], 2) is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no shard compiled and refused: the one kernel from the start
            fn = sd.compile([x, w], outputs, threads=2)
            np.testing.assert_allclose(fn(X, W)[0], sd.evaluate(outputs, {x: X, w: W})[0], rtol=1e-12)


def test_counts_of_the_rows_keep_their_dtype_and_reach_inside_random_draws():
    # found by a review: a seed computed from the row count was each shard's count (a different mask); an integer
    # count became float64 (another dtype and value; an index from it made compile fail)
    x = sd.tensor("x", ("batch", 3))
    seed = sd.cast(sd.count(x, 0), "int64")
    drawn = sd.sum(sd.random_uniform(seed, ("batch", 3)) * x)
    n = sd.count(x, 0, "int64")
    label = sd.one_hot(n - 1, 8)
    outputs = [drawn, n, sd.cast(x, "int64") * n, sd.sum(x), label]
    X = np.arange(15.0).reshape(5, 3)
    want = sd.evaluate(outputs, {x: X})
    got = sd.compile([x], outputs, threads=2)(X)
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_a_split_call_refuses_an_updated_parameter_sharing_memory_with_the_rows():
    # found by a review: the shards update nothing and the combining kernel never sees the rows, so neither checked
    x, w = sd.tensor("x", ("batch", 3)), sd.tensor("w", (3,))
    fn = sd.compile([x, w], [sd.sum(x * w)], {w: w - 0.1 * sd.sum(x, axis=0)}, threads=2)
    X = np.arange(15.0).reshape(5, 3)
    with pytest.raises(ValueError, match="'x' and 'w' share memory, but 'w' is updated in place"):
        fn(X, X[4])
    np.testing.assert_array_equal(X, np.arange(15.0).reshape(5, 3))


def test_a_dim_only_the_rows_bind_keeps_the_one_kernel_and_keywords_are_taken():
    # found by a review: the combine graph used a dim ('n') bound only by a batch argument (a warning, then the one
    # kernel); a split function refused arguments by keyword
    t, c = sd.tensor("t", ("batch", "n")), sd.tensor("c", ())
    outputs = [sd.sum(t), sd.broadcast_to(c, ("n",))]
    assert plan_split([t, c], outputs, [], 2) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = sd.compile([t, c], outputs, threads=2)(np.ones((4, 3)), 2.0)
    np.testing.assert_array_equal(got[1], [2.0, 2.0, 2.0])
    x, w = sd.tensor("x", ("batch", 3)), sd.tensor("w", (3,))
    fn = sd.compile([x, w], sd.sum(x * w), threads=2)
    assert isinstance(fn._call, SplitCall)
    assert fn(x=np.ones((4, 3)), w=np.ones(3)) == 12.0


def test_a_bad_argument_is_named_with_the_whole_calls_shapes_and_nothing_is_updated():
    model, x, y, args = _mlp_problem(rows=6)
    fn = sd.compile(*_step(model, x, y), threads=2)
    params = [a.copy() for a in args[2:]]
    with pytest.raises(ValueError, match=r"argument 'x': expected shape \('batch', 5\), got shape \(6, 4\)"):
        fn(np.zeros((6, 4)), args[1], *params)
    with pytest.raises(IndexError, match="take_along_axis"):  # a label out of range in the second shard's rows
        fn(args[0], np.array([0, 1, 2, 0, 1, 7]), *params)
    _close(params, args[2:])


def test_small_calls_run_the_one_kernel_and_blas_threads_are_restored():
    model, x, y, args = _mlp_problem(rows=2)
    fn = sd.compile(*_step(model, x, y))  # automatic: calls this small do not split
    assert not isinstance(fn._call, SplitCall) or fn._call.min_rows > 2
    control = openblas_threads()
    before = control[0]() if control else None
    two = sd.compile(*_step(model, x, y), threads=2)
    two(*[a.copy() for a in args])
    assert (control[0]() if control else None) == before


def test_concurrent_split_calls_and_pickling():
    model, x, y, args = _mlp_problem(rows=9)
    fn = sd.compile(*_step(model, x, y, lr=0.0), threads=2)  # lr 0: calls leave the parameters as they are
    want = fn(*args)
    results = [None] * 4

    def call(k):
        results[k] = fn(*args)

    workers = [threading.Thread(target=call, args=(k,)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert all(r == want for r in results)
    again = pickle.loads(pickle.dumps(fn))
    assert again.options["threads"] == 2 and isinstance(again._call, SplitCall)
    assert again(*args) == want


def _call_in_child(queue):
    model, x, y, args = _mlp_problem(rows=6)
    queue.put(float(sd.compile(*_step(model, x, y), threads=2)(*args)[0]))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_makes_its_own_workers():
    model, x, y, args = _mlp_problem(rows=6)
    fn = sd.compile(*_step(model, x, y), threads=2)
    want = float(fn(*[a.copy() for a in args])[0])  # the parent's workers exist before the fork
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_call_in_child, args=(queue,))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == pytest.approx(want, rel=1e-12)


def test_threads_must_be_a_positive_int():
    x = sd.tensor("x", ("batch",))
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be None or an int >= 1"):
            sd.compile([x], sd.sum(x), threads=bad)


@pytest.mark.skipif(openblas_threads() is None or parallel.usable_cores() < 2,
                    reason="one core, or kernels call a BLAS whose threads symdiff does not hold")
def test_automatic_splits_follow_the_blas_threads_the_user_allows(monkeypatch):
    monkeypatch.setattr(parallel.calls, "MIN_LOOP_WORK", 1)  # any call of 2 rows or more has enough work
    model, x, y, args = _mlp_problem(rows=6)
    fn = sd.compile(*_step(model, x, y, lr=0.0))
    splits = []
    split = SplitCall._split
    monkeypatch.setattr(SplitCall, "_split", lambda self, *a: splits.append(1) or split(self, *a))
    get, set_threads = openblas_threads()
    saved = get()
    try:
        set_threads(2)
        want = fn(*args)
        set_threads(1)  # one BLAS thread, as a one-process-per-core job asks: the one kernel
        assert fn(*args) == pytest.approx(want, rel=1e-12)
        set_threads(2)
        with parallel.calls._ONE_BLAS_THREAD:  # another split call holds the cores: the one kernel
            assert fn(*args) == pytest.approx(want, rel=1e-12)
        assert get() == 2
        set_threads(1)  # compiled while OpenBLAS may use one thread: one shard, nothing to split
        assert parallel.automatic_shards() == 1
        assert not isinstance(sd.compile(*_step(model, x, y, lr=0.0))._call, SplitCall)
    finally:
        set_threads(saved)
    assert splits == [1] and get() == saved


def test_an_adam_step_with_dropout_splits_and_keeps_its_state():
    # the optimizer's moments and step count are updates of the combining kernel; the step feeds a fresh dropout
    # seed per call, which every shard reads
    from symdiff.train import Adam

    x, y = sd.tensor("x", ("batch", 6, 3)), sd.tensor("y", ("batch",), "int64")
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((11, 6, 3)), rng.integers(0, 3, 11)
    runs = []
    for threads in (1, 2):
        model = nn.Sequential([nn.LSTM(3, 5, name="pa_l"), nn.Dropout(0.3, name="pa_drop"),
                               nn.Dense(5, 3, name="pa_d")], name="pa")
        step = Adam(lr=1e-2).compile_step([x, y], nn.softmax_cross_entropy(model(x, training=True), y), model,
                                          seed=3, threads=threads)
        assert isinstance(step.fn._call, SplitCall) == (threads == 2)
        losses = [float(step(X, Y)) for _ in range(3)]
        runs.append((losses, [v.copy() for v in step.params.values()] + [s.copy() for s in step.state.values()]))
    _close(runs[0][0], runs[1][0])
    _close(runs[0][1], runs[1][1])


def test_a_split_that_cannot_compile_warns_and_runs_the_one_kernel():
    model, x, y, args = _mlp_problem(rows=6)
    fn = sd.compile(*_step(model, x, y, lr=0.0), threads=2)
    want = sd.compile(*_step(model, x, y, lr=0.0), threads=1)(*args)

    def fails(plan):
        raise RuntimeError("no compiler today")

    fn._call._compile_shard = fails
    with pytest.warns(RuntimeWarning, match="not split over rows .RuntimeError: no compiler today"):
        assert fn(*args) == want
    assert fn(*args) == want  # and from then on, without a warning each call


def test_a_split_that_cannot_be_planned_warns_and_compiles_the_one_kernel(monkeypatch):
    model, x, y, args = _mlp_problem(rows=6)

    def fails(*_):
        raise TypeError("a planner bug")

    monkeypatch.setattr(parallel, "plan_split", fails)
    with pytest.warns(RuntimeWarning, match="not split over rows .planning failed: TypeError: a planner bug"):
        fn = sd.compile(*_step(model, x, y, lr=0.0), threads=2)
    assert not isinstance(fn._call, SplitCall)
    assert fn(*args) == sd.compile(*_step(model, x, y, lr=0.0), threads=1)(*args)
