"""Per-call overhead of a compiled function, layer by layer, on a graph whose arithmetic costs nothing.

For each backend: the kernel entry ``_kernel`` alone (native: the METH_FASTCALL builtin checking and unboxing its
arguments; Numba: the jitted function's typed dispatch), the generated public function (shape checks, workspace
pool, returned arrays), and ``fn(...)`` through ``sd.CompiledFunction``. Run from the repository root:
    python benchmarks/call_overhead.py
"""

from __future__ import annotations

import timeit

import numpy as np

import symdiff as sd


def _best(call, number: int = 100_000, repeat: int = 5) -> float:
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def _layers(backend: str, x, w, loss, values) -> list[float]:
    fn = sd.compile([x, w], loss, {w: w - 0.1 * x}, name="step", backend=backend)
    module = fn.module
    fn(*values)
    (workspace,) = module._WORKSPACES.pools[(4,)]
    returned = np.empty(1)
    return [_best(lambda: module._kernel(*values, *workspace, 4, returned)), _best(lambda: module.step(*values)),
            _best(lambda: fn(*values))]


def main() -> None:
    x, w = sd.tensor("x", ("n",)), sd.tensor("w", ("n",))
    loss = sd.sum(x * w)
    values = [np.ones(4), np.ones(4)]
    print(f"{'µs per call':<24} {'kernel entry':>13} {'generated fn':>13} {'fn(...)':>9}")
    for backend in ("native", "numba"):
        print(f"{backend:<24} " + " ".join(f"{t:>{w}.2f}" for t, w in zip(_layers(backend, x, w, loss, values),
                                                                          (13, 13, 9))))
    print("(arguments: two float64 arrays of 4 elements)")


if __name__ == "__main__":
    main()
