"""Running a split call (see symdiff/parallel/__init__.py): shards of rows on a shared thread pool with OpenBLAS held
to one thread, then the combining kernel."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .plan import SplitPlan, usable_cores

#: A call splits only when its rows times the graph's loop work per row (elementwise operations and multiply-adds
#: that one kernel runs on one core) reach this: measured, a CNN step on 8 x 8 digits (batch 32, ~4M) ran slower
#: split, an Elman RNN's (~20M) faster.
MIN_LOOP_WORK = 1 << 23


_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The shared workers (made on first use; a forked child makes its own: threads do not survive a fork)."""
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=max(1, usable_cores() - 1), thread_name_prefix="symdiff"))
        return _POOL[0]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL.clear)


class _OneBlasThread:
    """While any split call runs, OpenBLAS uses one thread (each shard's products then run on its own core); the
    count makes concurrent calls restore the setting once, after the last one."""

    def __init__(self) -> None:
        self.lock, self.active, self.saved = threading.Lock(), 0, 0
        self.control: tuple[Callable, Callable] | None | bool = False  # False: not looked up yet

    def _look_up(self) -> None:
        if self.control is False:
            from ..codegen.llvm.blas_symbols import openblas_threads

            self.control = openblas_threads()

    def free(self) -> bool:
        """True when an automatic split may run now: no other split call holds the cores, and OpenBLAS may use two
        threads or more (what the user allows; never when kernels call another BLAS, whose threads symdiff cannot
        hold)."""
        with self.lock:
            self._look_up()
            return bool(self.control) and self.active == 0 and self.control[0]() >= 2

    def threads(self) -> int:
        """OpenBLAS's thread count now (1 when kernels call another BLAS)."""
        with self.lock:
            self._look_up()
            return self.control[0]() if self.control else 1

    def __enter__(self) -> None:
        with self.lock:
            self._look_up()
            if self.active == 0 and self.control:
                get, set_threads = self.control
                self.saved = get()
                set_threads(1)
            self.active += 1

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.active -= 1
            if self.active == 0 and self.control:
                self.control[1](self.saved)


_ONE_BLAS_THREAD = _OneBlasThread()


def warn_not_split(why: str, stacklevel: int) -> None:
    """The one warning that a function's calls will not be split over rows after all (``why``: the error that
    stopped it); ``stacklevel`` as for ``warnings.warn``, this function's own frame being 1."""
    warnings.warn(f"symdiff: calls are not split over rows ({why}); every call runs the one kernel", RuntimeWarning,
                  stacklevel=stacklevel)


def automatic_shards() -> int:
    """The shards of ``threads=None``: a core each, as many as OpenBLAS may use threads (all usable cores unless
    the user set fewer: ``OPENBLAS_NUM_THREADS=4`` on a larger machine asks for 4)."""
    return max(1, min(usable_cores(), _ONE_BLAS_THREAD.threads()))


class SplitCall:
    """Calls of a compiled function through its :class:`SplitPlan` when large enough, else ``serial``.

    ``compile_shard(plan)`` and ``compile_combine(plan)`` compile the two graphs (on the first split call: a function
    never called at that size never compiles them; ``compile_combine`` returns None when nothing is left to combine).
    ``automatic``: split only calls of enough loop work, while the cores are free (``threads=None``)."""

    def __init__(self, plan: SplitPlan, serial: Callable, single: bool, shards: int, automatic: bool,
                 compile_shard: Callable[[SplitPlan], Any], compile_combine: Callable[[SplitPlan], Any]) -> None:
        self.plan, self.serial, self.single, self.shards, self.automatic = plan, serial, single, shards, automatic
        work = MIN_LOOP_WORK if automatic else 0
        self.min_rows = max(shards, -(-work // max(plan.work_per_row, 1)))
        self._compile_shard, self._compile_combine = compile_shard, compile_combine
        self._fns: tuple[Any, ...] | None = None  # () once compiling them failed
        self._lock = threading.Lock()
        self.first = plan.batch_args[0]
        self.arity = sum(n is not plan.rows_input and n is not plan.first_row_input for n in plan.shard_inputs)
        targets = {id(t) for t, _ in plan.combine_updates}
        self.updated = [k for k, n in enumerate(plan.shard_inputs[:self.arity]) if id(n) in targets]

    def __call__(self, *args: Any, **by_name: Any) -> Any:
        try:
            rows = args[self.first].shape[0]
        except (AttributeError, IndexError, TypeError):  # not an array of rows: the one kernel converts or explains
            return self.serial(*args, **by_name)
        if by_name or rows < self.min_rows or not self._alike(args, rows) or \
                (self.automatic and not _ONE_BLAS_THREAD.free()):
            return self.serial(*args, **by_name)  # too small, not arrays of rows, or the cores are not free
        return self._split(args, rows)

    def _alike(self, args: tuple, rows: int) -> bool:
        """Every batch argument an array of ``rows`` rows, and no updated argument sharing memory with one (the
        combining kernel, which updates, never sees the rows to check: the serial call raises naming both)."""
        return len(args) == self.arity and all(
            isinstance(args[k], np.ndarray) and args[k].ndim >= 1 and args[k].shape[0] == rows
            for k in self.plan.batch_args) and not any(
            np.may_share_memory(args[u], args[k]) for u in self.updated for k in self.plan.batch_args)

    def _functions(self) -> tuple[Any, Any] | None:
        """The shard and combine functions, compiled on first use; None when they could not be (a warning names
        why, and every call runs the one kernel from then on)."""
        with self._lock:
            if self._fns is None:
                try:
                    self._fns = (self._compile_shard(self.plan), self._compile_combine(self.plan))
                except Exception as exc:  # noqa: BLE001 - the one kernel still computes every call
                    warn_not_split(f"{type(exc).__name__}: {exc}", stacklevel=5)
                    self._fns = ()
            return self._fns or None

    def _split(self, args: tuple, rows: int) -> Any:
        functions = self._functions()
        if functions is None:
            return self.serial(*args)
        shard, combine = functions
        plan, n = self.plan, self.shards
        bounds = [rows * k // n for k in range(n + 1)]
        extra = (rows,) if plan.rows_input is not None else ()
        batch = set(plan.batch_args)
        pieces = [tuple(a[bounds[k]:bounds[k + 1]] if j in batch else a for j, a in enumerate(args)) + extra
                  + ((bounds[k],) if plan.first_row_input is not None else ()) for k in range(n)]
        try:
            with _ONE_BLAS_THREAD:
                others = [_pool().submit(shard, *piece) for piece in pieces[1:]]
                results = [shard(*pieces[0])] + [f.result() for f in others]
        except Exception:  # noqa: BLE001 - a bad argument: the one kernel raises the error a call without shards
            return self.serial(*args)  # raises, naming it with the whole call's shapes (the shards update nothing)
        count = len(plan.reductions)
        whole = [a for j, a in enumerate(args) if j not in batch]
        partials = [r for result in results for r in result[:count]]
        combined = combine(*whole, *partials, *extra) if combine is not None else ()
        outputs: list[Any] = [None] * (len(plan.row_outputs) + len(plan.combined_positions))
        for j, (k, axis) in enumerate(plan.row_outputs.items()):
            outputs[k] = np.concatenate([result[count + j] for result in results], axis=axis)
        for j, k in enumerate(plan.combined_positions):
            outputs[k] = combined[j]
        if not outputs:
            return None
        return outputs[0] if self.single else tuple(outputs)
