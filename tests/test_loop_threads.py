"""Loop nests on threads (codegen/llvm/threads.py, thread_pool.py): a native kernel runs its large elementwise nests
in chunks on the process's worker threads, with the same bits as one thread and as the Numba module.

The tests put every nest on the pool (``min_work(1, 1)``: chunks of one iteration) and leave the chunks to the
workers where there are some, so the workers' code runs on tiny shapes.
"""

import contextlib
import os

import numpy as np
import pytest

import symdiff as sd
from symdiff.codegen import kir
from symdiff.codegen.kir_walks import walk
from symdiff.codegen.llvm import thread_pool, threads
from symdiff.codegen.llvm.blas_symbols import openblas_threads
from symdiff.codegen.module import generate
from tests.mlp import mlp_graph, mlp_values, sgd_step


@contextlib.contextmanager
def every_nest_on_the_pool():
    with threads.min_work(1, 1), thread_pool.calling_thread_idle():
        yield


@pytest.fixture(scope="module")
def steps():
    """The MLP training step, natively as one kernel (no split over rows) and by Numba."""
    inputs, loss = mlp_graph(6, 33, 3)
    outputs, updates = sgd_step(inputs, loss)
    return {backend: sd.compile(inputs, outputs[0], updates, backend=backend, threads=1)
            for backend in ("native", "numba")}


def _run(step, batch: int = 41):
    values = [v.copy() for v in mlp_values(batch, 6, 33, 3, seed=5)]
    return step(*values), values[2:]


def test_a_training_step_on_the_pool_matches_one_thread_and_numba_bit_for_bit(steps):
    serial_loss, serial_params = _run(steps["native"])
    numba_loss, numba_params = _run(steps["numba"])
    before = thread_pool.statistics()
    with every_nest_on_the_pool():
        loss, params = _run(steps["native"])
    after = thread_pool.statistics()
    assert after["jobs"] > before["jobs"]  # the nests ran as jobs of the pool
    if thread_pool.workers():
        assert after["worker_chunks"] > before["worker_chunks"]  # ... computed by the workers
    assert loss == serial_loss == numba_loss
    for got, one, printed in zip(params, serial_params, numba_params):
        np.testing.assert_array_equal(got, one)
        np.testing.assert_array_equal(got, printed)


def test_a_bias_gradient_nest_is_split_along_the_axis_its_sum_keeps():
    """The backward nest of a layer adds each row into the bias gradient (a joined leading sum): its rows stay in
    order on one thread, so the split loop is the column loop; the forward nest's rows are independent."""
    x, W, b = sd.tensor("x", ("batch", 5)), sd.tensor("W", (5, 40)), sd.tensor("b", (40,))
    loss = sd.sum(sd.tanh(x @ W + b) ** 2)
    updates = [(p, p - 0.1 * g) for p, g in zip((W, b), sd.grad(loss, [W, b]))]
    kernel = generate([x, W, b], [loss], updates, name="step").kernel
    statements = walk(s for f in kernel.functions for s in f.body)
    marked = [s.var.name for s in statements if isinstance(s, kir.For) and s.threads]
    nests = {s.var.name: s for s in statements if isinstance(s, kir.For) and threads.threaded_nest(s)}
    assert "_i0" in marked and "_i1" in marked
    assert any(threads.threaded_nest(s)[-1].var.name == "_i1" for s in nests.values())


def test_nests_use_no_more_threads_than_openblas_may():
    control = openblas_threads()
    if control is None:
        pytest.skip("kernels call SciPy's BLAS here (no OpenBLAS thread count to follow)")
    x = sd.tensor("x", ("n", 3))
    fn = sd.compile([x], sd.tanh(x) * 2.0, threads=1)
    get, set_threads = control
    want = fn(np.linspace(-3, 3, 192).reshape(64, 3))
    saved = get()
    before = thread_pool.statistics()["jobs"]
    try:
        set_threads(1)
        with every_nest_on_the_pool():
            np.testing.assert_array_equal(fn(np.linspace(-3, 3, 192).reshape(64, 3)), want)
    finally:
        set_threads(saved)
    assert thread_pool.statistics()["jobs"] == before
    if saved >= 2:  # the same call may take threads when OpenBLAS may
        with every_nest_on_the_pool():
            np.testing.assert_array_equal(fn(np.linspace(-3, 3, 192).reshape(64, 3)), want)
        assert thread_pool.statistics()["jobs"] == before + 1


def test_concurrent_calls_share_the_pool_and_get_their_own_results(steps):
    from concurrent.futures import ThreadPoolExecutor

    want = [_run(steps["native"], batch)[0] for batch in range(30, 46)]
    with every_nest_on_the_pool(), ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda batch: _run(steps["native"], batch)[0], list(range(30, 46)) * 3))
    assert got == want * 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_has_workers_of_its_own(steps):
    want, _ = _run(steps["native"])
    pid = os.fork()
    if pid == 0:  # the child: its workers are new threads (the parent's did not survive the fork)
        ok = False
        try:
            before = thread_pool.statistics()["worker_chunks"]
            with every_nest_on_the_pool():
                ok = _run(steps["native"])[0] == want
            ok = ok and (thread_pool.statistics()["worker_chunks"] > before or not thread_pool.workers())
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_nests_that_cannot_be_split_run_on_one_thread():
    i, j, n = kir.Var("_i0", "int64"), kir.Var("_i1", "int64"), kir.Var("n", "int64")
    out = kir.Array("out", "float64")
    store = kir.Store(out, kir.add(kir.mul(i, n), j), kir.const(1.0, "float64"))
    ok = kir.For(i, kir.index(0), n, (kir.For(j, kir.index(0), n, (store,), threads=True),))
    assert threads.threaded_nest(ok) == [ok, ok.body[0]]
    raising = kir.For(i, kir.index(0), n, (store, kir.Raise("IndexError", "out of range")), threads=True)
    triangle = kir.For(i, kir.index(0), n, (kir.For(j, kir.index(0), i, (store,), threads=True),))
    unmarked = kir.For(i, kir.index(0), n, (store,))
    vector = kir.For(i, kir.index(0), n, (store,), lanes=4, threads=True)
    assert [threads.threaded_nest(s) for s in (raising, triangle, unmarked, vector)] == [None] * 4


def test_without_the_linux_calls_nests_run_on_the_calling_thread():
    """A C library without ``sched_getcpu`` (macOS) gets no workers: kernels load and run their nests alone."""
    script = """
import ctypes, numpy as np, symdiff as sd
from symdiff.codegen.llvm import thread_pool, threads

class WithoutCpu:
    def __init__(self, library):
        self.library = library
    def __getattr__(self, name):
        if name == "sched_getcpu":
            raise AttributeError(name)
        return getattr(self.library, name)

thread_pool._libc = lambda: WithoutCpu(ctypes.CDLL(None))
x = sd.tensor("x", ("n", 3))
fn = sd.compile([x], sd.tanh(x) * 2.0, threads=1)
assert fn.backend == "native", fn.backend
with threads.min_work(1, 1):
    got = fn(np.linspace(-3, 3, 192).reshape(64, 3))
np.testing.assert_allclose(got, np.tanh(np.linspace(-3, 3, 192).reshape(64, 3)) * 2.0, rtol=1e-15)
assert thread_pool.workers() == 0 and thread_pool.statistics()["jobs"] == 0, thread_pool.statistics()
print("ok")
"""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
