"""Training a classifier on data larger than memory: a chunk directory written piece by piece, read block by block.

A data set of rows x 32 features (float64) is generated 100,000 rows at a time from a fixed teacher network and
appended to a chunk directory (``sd.train.save_chunks(..., append=True)``), so it never exists whole. A
``Trainer`` then fits a small MLP on the dask arrays ``sd.train.open_chunked`` gives: one pass checks the data and
measures the standardization statistics, then every epoch reads the blocks in a random order, at most two in
memory. The process's peak memory is printed next to the data's size.

    python examples/out_of_core.py [--quick] [--rows N] [--dir PATH] [--scheduler [ADDRESS]]

The same directory trains from the command line: ``symdiff train spec.toml --data PATH``. ``--scheduler``
computes each mini-batch's gradient on a Dask cluster (no address: a LocalCluster).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

import symdiff as sd
from symdiff import nn
from symdiff.train import Adam, Trainer, open_chunked, save_chunks

FEATURES, CLASSES, PIECE = 32, 4, 100_000


def teacher_labels(X: np.ndarray) -> np.ndarray:
    """Classes from a fixed random tanh network: a task a linear model cannot solve exactly."""
    rng = np.random.default_rng(1234)
    hidden = np.tanh(X @ rng.standard_normal((FEATURES, 16)) / np.sqrt(FEATURES))
    return np.argmax(hidden @ rng.standard_normal((16, CLASSES)), axis=1)


def write(folder: Path, rows: int, block: int) -> None:
    """``rows`` training rows and a tenth as many validation rows, generated and appended piece by piece."""
    rng = np.random.default_rng(0)
    for part, count in (("train", rows), ("valid", max(rows // 10, 1))):
        for begin in range(0, count, PIECE):
            X = rng.standard_normal((min(PIECE, count - begin), FEATURES))
            save_chunks(folder, X, teacher_labels(X), rows_per_file=block, part=part, append=True)


def main(quick: bool = False, rows: int | None = None, folder: str | None = None,
         scheduler: str | None = None) -> dict:
    rows = rows or (20_000 if quick else 2_000_000)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(folder or scratch) / "out_of_core_data"
        began = time.perf_counter()
        write(path, rows, block=min(50_000, max(rows // 8, 1)))
        parts = open_chunked(path)
        X, y = parts["train"]
        print(f"wrote {rows:,} + {len(parts['valid'][0]):,} rows ({X.nbytes / 2**20:,.0f} MiB of features) in "
              f"{X.numblocks[0]} blocks to {path} in {time.perf_counter() - began:.1f} s")
        x, t = sd.tensor("x", ("batch", FEATURES)), sd.tensor("t", ("batch",), "int64")
        model = nn.Sequential([nn.Dense(FEATURES, 32, "tanh"), nn.Dense(32, CLASSES)])
        trainer = Trainer(model, x, t, nn.softmax_cross_entropy, Adam(lr=0.01))
        began = time.perf_counter()
        history = trainer.fit(X, y, epochs=2 if quick else 3, batch_size=250, validation_data=parts["valid"],
                              scheduler=scheduler)
        seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    accuracy = history["val_accuracy"][-1]
    print(f"{history.stop_reason} in {seconds:.1f} s: validation accuracy {accuracy:.3f}; peak memory of this "
          f"process {peak:,.0f} MiB (the features alone are {X.nbytes / 2**20:,.0f} MiB)")
    return {"val_accuracy": accuracy, "epochs": history.epochs, "peak_mib": peak, "data_mib": X.nbytes / 2**20}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 2 epochs")
    parser.add_argument("--rows", type=int, help="training rows (default 2,000,000: 488 MiB of features)")
    parser.add_argument("--dir", help="where to write the chunk directory (default: a temporary directory)")
    parser.add_argument("--scheduler", nargs="?", const="local", help="a Dask scheduler address; no address: a "
                        "LocalCluster")
    args = parser.parse_args()
    main(args.quick, args.rows, args.dir, args.scheduler)
