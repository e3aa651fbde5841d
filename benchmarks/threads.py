"""Two threads calling one compiled function at once (the kernel runs with the GIL released, each call with a
workspace of its own): throughput of 1 thread vs 2 threads on the same total work, both backends.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/threads.py

BLAS is pinned to one thread (threadpoolctl), so the second core is the threads' to use.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from common import environment_report

import symdiff as sd


def _graph():
    x, w1, w2 = sd.tensor("x", ("batch", 256)), sd.tensor("w1", (256, 256)), sd.tensor("w2", (256, 10))
    loss = sd.sum(sd.log_softmax(sd.tanh(x @ w1) @ w2, axis=-1) ** 2)
    return [x, w1, w2], [loss, *sd.grad(loss, [w1, w2])]


def _seconds(run, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    from threadpoolctl import threadpool_limits

    inputs, outputs = _graph()
    rng = np.random.default_rng(0)
    chunks = [rng.standard_normal((512, 256)) for _ in range(16)]
    weights = [rng.standard_normal((256, 256)) * 0.05, rng.standard_normal((256, 10)) * 0.05]
    print(f"{'backend':<8} {'1 thread (ms)':>14} {'2 threads (ms)':>15} {'speed-up':>9}")
    with threadpool_limits(1, user_api="blas"):
        for backend in ("native", "numba"):
            fn = sd.compile(inputs, outputs, backend=backend)
            for chunk in chunks[:2]:
                fn(chunk, *weights)
            def call(chunk, fn=fn):
                return fn(chunk, *weights)

            serial = _seconds(lambda: [call(c) for c in chunks])  # noqa: B023 - used within the iteration
            with ThreadPoolExecutor(2) as pool:
                parallel = _seconds(lambda: list(pool.map(call, chunks)))  # noqa: B023
            print(f"{backend:<8} {serial * 1e3:>14.1f} {parallel * 1e3:>15.1f} {serial / parallel:>8.2f}x")
        print(environment_report())


if __name__ == "__main__":
    main()
