"""Threads (issue 12, points 14-16): compiling from several threads, concurrent calls of one compiled function
with workspaces of their own, the GIL released during a kernel, and a bounded workspace cache."""

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import symdiff as sd

BACKENDS = ["native", "numba"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_compile_the_same_graph_at_once(backend, tmp_path, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path))  # a cold cache: both threads really compile
    x = sd.tensor("x", ("n",))
    y = sd.sum(sd.tanh(x) * 3.0)
    with ThreadPoolExecutor(4) as pool:
        fns = list(pool.map(lambda _: sd.compile([x], y, backend=backend), range(4)))
    assert {f.backend for f in fns} == {backend}
    assert {f(np.arange(5.0)) for f in fns} == {float(sd.evaluate(y, {x: np.arange(5.0)}))}


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_calls_of_one_function_do_not_share_workspaces(backend):
    x, w = sd.tensor("x", ("batch", 8)), sd.tensor("w", (8, 8))
    h = sd.tanh(x @ w)
    y = [sd.softmax(h, axis=-1) * sd.sum(h * h, axis=0), sd.max(h, axis=1), sd.mean(h * h)]  # 0-d outputs are pooled
    fn = sd.compile([x, w], y, backend=backend)
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((8, 8))
    batches = [rng.standard_normal((b, 8)) for b in (3, 50, 3, 200, 50, 7) * 4]
    want = [sd.evaluate(y, {x: b, w: weights}) for b in batches]
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda b: [fn(b, weights) for _ in range(20)][-1], batches))
    for g, w_ in zip(got, want):
        for a, b in zip(g, w_):
            np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_threads_run_while_a_kernel_runs(backend):
    n = sd.tensor("n", ("rows", 2000))
    fn = sd.compile([n], sd.sum(sd.sin(sd.cos(sd.sin(n)))), backend=backend)
    data = np.ones((3000, 2000))
    fn(data[:2])
    stop, ticks = threading.Event(), [0]

    def count() -> None:
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0)  # lets the main thread take the GIL back

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)  # no forced switches: the counter runs only when the main thread lets go
    other = threading.Thread(target=count)
    other.start()
    try:
        before = ticks[0]
        fn(data)  # with the GIL held during the kernel, the other thread could not count at all
        during = ticks[0] - before
    finally:
        sys.setswitchinterval(interval)
        stop.set()
        other.join()
    assert during > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_workspace_memory_is_bounded_and_can_be_freed(backend):
    x = sd.tensor("x", ("batch", 100))
    fn = sd.compile([x], sd.sum(sd.softmax(sd.exp(x) * 2.0, axis=0) ** 2.0), backend=backend)
    fn.workspace_limit = 1 << 20
    sizes = []
    for batch in (400, 2000, 800, 3000, 50):
        fn(np.ones((batch, 100)))
        sizes.append(fn.workspace_bytes)
    # one batch of b rows needs a few b x 100 float64 arrays; only the latest shape may exceed the limit
    assert sizes[3] >= 3000 * 100 * 8 and all(s <= (1 << 20) + b * 100 * 8 * 4
                                               for s, b in zip(sizes, (400, 2000, 800, 3000, 50)))
    assert sizes[-1] <= (1 << 20)
    fn.clear_workspaces()
    assert fn.workspace_bytes == 0
    np.testing.assert_allclose(fn(np.ones((3, 100))), sd.evaluate(sd.sum(sd.softmax(sd.exp(x) * 2.0, axis=0) ** 2.0),
                                                                   {x: np.ones((3, 100))}))
