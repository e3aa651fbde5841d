"""Throughput of data-parallel evaluation on Dask against worker count (issue 17 point 6), on this machine.

1. The mean logistic loss and its gradient over rows x 32 features (float64, persisted in the workers' memory):
   examples/s in one process (the compiled kernel on the whole array), and through ``map_reduce`` on a
   LocalCluster of 1 and 2 worker processes, at several chunk sizes.
2. The per-task overhead: a pass over many tiny chunks (100 rows), seconds per chunk.
3. A ``compile_sympy`` gradient + Hessian (Rosenbrock in 10 variables) over chunked points: points/s.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/distributed_scaling.py [--rows N]

Needs dask[array] and distributed (the test extra).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import sympy
from common import environment_report, pin_threads

import symdiff as sd
from symdiff.distributed import map_points, map_reduce

FEATURES = 32


def best_of(fn, repeats: int = 3) -> float:
    fn()  # warm: kernels load on every worker, data in memory
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    import dask.array as da
    import distributed

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    pin_threads(1)  # one thread per process: the workers are the parallelism
    X_node, y_node, w = sd.tensor("X", ("n", FEATURES)), sd.tensor("y", ("n",)), sd.tensor("w", (FEATURES,))
    loss = sd.mean(sd.softplus(X_node @ w) - y_node * (X_node @ w))
    fn = sd.compile([X_node, y_node, w], [loss, sd.grad(loss, w)])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, FEATURES))
    y = (rng.random(args.rows) < 0.5).astype(float)
    w0 = np.zeros(FEATURES)
    single = best_of(lambda: fn(X, y, w0))
    print(f"one process, whole array: {args.rows / single / 1e6:.2f} M examples/s ({single * 1e3:.1f} ms per pass)")
    x_sym = sympy.symbols("x0:10")
    rosenbrock = sum(100 * (x_sym[i + 1] - x_sym[i] ** 2) ** 2 + (1 - x_sym[i]) ** 2 for i in range(9))
    kernel = sd.compile_sympy(rosenbrock, x_sym, derivatives=("grad", "hessian"))
    points = rng.standard_normal((200_000, 10))
    sympy_single = best_of(lambda: kernel(points))
    print(f"one process, compile_sympy gradient + Hessian: {len(points) / sympy_single / 1e6:.2f} M points/s")
    for workers in (1, 2):
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=":0")
        with distributed.Client(cluster):
            for chunk in (10_000, 100_000, 250_000):
                X_d = da.from_array(X, chunks=(chunk, FEATURES)).persist()
                y_d = da.from_array(y, chunks=chunk).persist()
                seconds = best_of(lambda X_d=X_d, y_d=y_d: map_reduce(fn, [X_d, y_d, w0], "mean"))
                print(f"{workers} worker(s), chunks of {chunk:>7,} rows: {args.rows / seconds / 1e6:.2f} M examples/s "
                      f"({seconds * 1e3:.1f} ms per pass, {args.rows // chunk} tasks)")
            tiny = da.from_array(X[:100_000], chunks=(100, FEATURES)).persist()
            tiny_y = da.from_array(y[:100_000], chunks=100).persist()
            seconds = best_of(lambda tiny=tiny, tiny_y=tiny_y: map_reduce(fn, [tiny, tiny_y, w0], "mean"), repeats=2)
            print(f"{workers} worker(s), 1,000 chunks of 100 rows: {seconds / 1000 * 1e6:.0f} µs per task")
            points_d = da.from_array(points, chunks=(50_000, 10)).persist()
            seconds = best_of(lambda chunked=points_d: [v.compute() for v in map_points(kernel, chunked).values()])
            print(f"{workers} worker(s), compile_sympy gradient + Hessian: "
                  f"{len(points) / seconds / 1e6:.2f} M points/s")
        cluster.close()
    print(environment_report())


if __name__ == "__main__":
    main()
