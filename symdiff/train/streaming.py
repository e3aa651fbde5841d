"""Training on data larger than memory: ``dask.array`` inputs read one block of rows at a time.

The blocks are the dask array's chunks along its rows (one file of a chunk directory, one Zarr chunk). An epoch
visits them in a fresh random order; each block is read (the next one is read in a background thread meanwhile),
standardized, its rows are shuffled and fed to the compiled step in mini-batches, so the driver holds at most two
blocks. Before training, one pass over the data checks it (non-finite values, class labels) and measures the
standardization statistics. With a Dask client active, the blocks are read by its workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..nn import check_labels
from .checks import TrainingInputError, check_finite

Prepare = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def is_streamed(array: Any) -> bool:
    """Whether ``array`` is a ``dask.array`` (read block by block) rather than data in memory."""
    return type(array).__module__.split(".")[0] == "dask"


class StreamedData:
    """Inputs ``X`` and targets ``Y`` (dask arrays, or ``Y`` in memory) read together one block of rows at a time,
    in ``X``'s row chunks; ``prepare`` turns a block's raw arrays into the step's (standardization, dtypes)."""

    def __init__(self, X: Any, Y: Any, prefix: str = "") -> None:
        import dask.array as da

        if np.ndim(Y) == 0 or len(X) != len(Y):
            raise TrainingInputError(f"{prefix}Y", f"{prefix}X has {len(X)} rows but {prefix}Y has "
                                     f"{len(Y) if np.ndim(Y) else 'none (a scalar)'}")
        if len(X) == 0:
            raise TrainingInputError(f"{prefix}X", f"{prefix}X has no rows")
        if not is_streamed(Y):
            Y = da.from_array(np.asarray(Y), chunks=(X.chunks[0],) + np.shape(Y)[1:])
        rows = X.chunks[0]
        self.X = X.rechunk((rows,) + tuple(-1 for _ in X.shape[1:]))
        self.Y = Y.rechunk((rows,) + tuple(-1 for _ in Y.shape[1:]))
        self.starts = np.concatenate([[0], np.cumsum(rows)])
        self.prefix = prefix
        self.prepare: Prepare = lambda x, y: (x, y)
        self.shuffle = np.random.default_rng(0)  # draws the block order of each training epoch

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def count(self) -> int:
        """The number of blocks."""
        return len(self.starts) - 1

    def raw(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """Block ``block``'s rows of ``X`` and ``Y`` as stored."""
        import dask

        return dask.compute(self.X.blocks[block], self.Y.blocks[block])

    def read(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """Block ``block``'s rows of ``X`` and ``Y``, prepared."""
        return self.prepare(*self.raw(block))

    def blocks(self, order: Sequence[int] | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The prepared blocks in ``order`` (default: stored order), the next one read while this one is used."""
        order = list(range(self.count)) if order is None else list(order)
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending = reader.submit(self.read, order[0])
            try:
                for following in order[1:] + [None]:
                    block = pending.result()
                    if following is not None:
                        pending = reader.submit(self.read, following)
                    yield block
            finally:  # an interrupted epoch does not wait for a read it will not use
                pending.cancel()

    def survey(self, classes: int | None, moments: Callable[[Any], tuple[Any, Any]] | None) -> tuple | None:
        """One pass over the data: raises :class:`TrainingInputError` for a non-finite value, or a target that is
        not a class label below ``classes`` (when given), naming the rows; returns the ``moments`` of ``X`` (a
        function of the lazy array, for standardization) computed in the same pass."""
        import dask
        import dask.array as da

        checks = {f"{self.prefix}X": self.X, f"{self.prefix}Y": self.Y}
        lazy = {name: da.isfinite(array).all() for name, array in checks.items() if array.dtype.kind in "fc"}
        if classes is not None:
            whole = self.Y == da.round(self.Y) if self.Y.dtype.kind == "f" else da.asarray(True)
            lazy["labels"] = whole.all() & (self.Y.min() >= 0) & (self.Y.max() < classes)
        if moments is not None:
            lazy["moments"] = moments(self.X.astype(np.float64))
        found = dask.compute(lazy)[0]
        for name in checks:
            if not found.get(name, True):
                self._first_fault(lambda x, y, start, name=name: check_finite(name, x if name.endswith("X") else y,
                                                                              start))
        if not found.get("labels", True):
            self._first_fault(lambda x, y, start: check_labels(y, classes, f"{self.prefix}targets (rows counted from "
                                                               f"row {start})"))
        return found.get("moments")

    def _first_fault(self, check: Callable[[np.ndarray, np.ndarray, int], Any]) -> None:
        """Raise ``check``'s error (given a block and its first row) for the first block it fails on, naming
        that block's rows."""
        for block in range(self.count):
            x, y = self.raw(block)
            try:
                check(x, y, int(self.starts[block]))
            except (TrainingInputError, TypeError, ValueError) as exc:
                field = getattr(exc, "field", f"{self.prefix}Y")
                raise TrainingInputError(field, f"block {block} of {self.count} (rows {self.starts[block]}.."
                                         f"{self.starts[block + 1] - 1}): {exc}") from None
        raise RuntimeError("internal: the data survey found a fault no block shows")


def evaluate_blocks(data: StreamedData, evaluate: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]],
                    metrics: dict[str, Callable[[np.ndarray, np.ndarray], float]]) -> dict[str, float]:
    """``{"loss": ..., <metric>: ...}`` over all blocks: the loss (a mean over rows) weighted by each block's rows,
    the metrics computed once on all the outputs and targets (they are much smaller than the inputs)."""
    total, outputs, targets = 0.0, [], []
    for x, y in data.blocks():
        loss, out = evaluate(x, y)
        total += float(loss) * len(x)
        outputs.append(out)
        targets.append(y)
    outputs, targets = np.concatenate(outputs), np.concatenate(targets)
    return {"loss": total / len(data)} | {name: metric(outputs, targets) for name, metric in metrics.items()}
