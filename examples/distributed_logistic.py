"""Logistic regression over a dataset generated chunk by chunk on Dask workers, trained by full-batch L-BFGS and by
data-parallel Adam; the same script runs on a laptop or a cluster.

The data (rows x features, float64) never exists whole anywhere: every worker generates its chunks where they are
used. Each evaluation of the mean loss and its gradient runs one compiled kernel per chunk, and the driver combines
the chunks' results weighted by rows and takes the optimizer step.

    python examples/distributed_logistic.py [--quick] [--rows N] [--scheduler tcp://host:8786]

Without --scheduler a LocalCluster is started with one worker process per core (memory limit 1 GB each, smaller
than the default dataset of 2 GB).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import symdiff as sd
from symdiff.train import Adam
from symdiff.train.distributed import fit_data_parallel, minimize

FEATURES = 50


def dataset(rows: int, chunk: int):
    """Features and 0/1 labels from a fixed logistic teacher, generated per chunk on the workers."""
    import dask.array as da

    X = da.random.RandomState(0).standard_normal((rows, FEATURES), chunks=(chunk, FEATURES))
    teacher = np.linspace(-1.0, 1.0, FEATURES)
    noise = da.random.RandomState(1).logistic(size=rows, chunks=chunk)
    return X, ((X @ teacher + noise) > 0).astype(np.float64)


def main(quick: bool = False, rows: int | None = None, scheduler: str | None = None) -> dict:
    import distributed

    rows = rows or (200_000 if quick else 5_000_000)
    cluster = None
    if scheduler is None:
        cluster = distributed.LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                           memory_limit="1GB", dashboard_address=":0")
    with distributed.Client(scheduler or cluster):
        X, y = dataset(rows, chunk=min(rows, 100_000))
        x_node, y_node = sd.tensor("X", ("n", FEATURES)), sd.tensor("y", ("n",))
        w, b = sd.tensor("w", (FEATURES,)), sd.tensor("b", ())
        z = x_node @ w + b
        loss = sd.mean(sd.softplus(z) - y_node * z)
        start = {"w": np.zeros(FEATURES), "b": np.array(0.0)}
        began = time.perf_counter()
        lbfgs = minimize(loss, [w, b], {x_node: X, y_node: y}, start, penalty=1e-4 * sd.sum(w * w),
                         max_iter=10 if quick else 50)
        lbfgs_seconds = time.perf_counter() - began
        began = time.perf_counter()
        adam = fit_data_parallel(loss, [w, b], {x_node: X, y_node: y}, start, Adam(lr=0.05),
                                 batch_size=rows // 10, epochs=1 if quick else 3)
        adam_seconds = time.perf_counter() - began
    if cluster is not None:
        cluster.close()
    teacher = np.linspace(-1.0, 1.0, FEATURES)
    cosine = float(lbfgs.values["w"] @ teacher / np.linalg.norm(lbfgs.values["w"]) / np.linalg.norm(teacher))
    print(f"{rows:,} rows: L-BFGS loss {lbfgs.losses[-1]:.4f} after {len(lbfgs.losses)} passes in "
          f"{lbfgs_seconds:.1f} s (weights' cosine with the teacher {cosine:.4f}); data-parallel Adam loss "
          f"{adam.losses[-1]:.4f} after {len(adam.losses)} steps in {adam_seconds:.1f} s")
    return {"lbfgs_loss": lbfgs.losses[-1], "adam_loss": adam.losses[-1], "cosine": cosine}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200,000 rows and fewer iterations")
    parser.add_argument("--rows", type=int, help="rows of the generated dataset (default 5,000,000: 2 GB)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster)")
    args = parser.parse_args()
    main(args.quick, args.rows, args.scheduler)
