"""Per-call overhead of a compiled function, layer by layer, on a graph whose arithmetic costs nothing.

For each backend: the kernel entry ``_kernel`` alone (native: the METH_FASTCALL builtin checking and unboxing its
arguments; Numba: the jitted function's typed dispatch), the generated public function (shape checks, workspace
pool, returned arrays), and ``fn(...)`` through ``sd.CompiledFunction``. Run from the repository root:
    python benchmarks/call_overhead.py [--number 100000]
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

import symdiff as sd


def _best(call, number: int, repeat: int = 5) -> float:
    return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6


def layers(backend: str, number: int = 100_000) -> list[float]:
    """µs per call of the kernel entry, the generated function and ``fn(...)``, best of 5 runs of ``number``."""
    x, w = sd.tensor("x", ("n",)), sd.tensor("w", ("n",))
    fn = sd.compile([x, w], sd.sum(x * w), {w: w - 0.1 * x}, name="step", backend=backend)
    module, values = fn.module, [np.ones(4), np.ones(4)]
    fn(*values)
    # the kernel takes the arguments, the named dim's size, then its workspace set: here only the returned scalar
    (returned,) = module._WORKSPACES.pools[(4,)]
    return [_best(lambda: module._kernel(*values, 4, *returned), number), _best(lambda: module.step(*values), number),
            _best(lambda: fn(*values), number)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=100_000, help="calls per timed run (best of 5 runs)")
    args = parser.parse_args()
    print(f"{'µs per call':<24} {'kernel entry':>13} {'generated fn':>13} {'fn(...)':>9}")
    for backend in ("native", "numba"):
        print(f"{backend:<24} " + " ".join(f"{t:>{w}.2f}" for t, w in zip(layers(backend, args.number), (13, 13, 9))))
    print("(arguments: two float64 arrays of 4 elements)")


if __name__ == "__main__":
    main()
