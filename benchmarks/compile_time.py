"""Compile time of symdiff kernels: cold (empty cache, new process) and warm (new process, cache filled),
for the MLP training step and for graphs of growing size.

Each measurement runs in a fresh interpreter so that per-process start-up (imports) is included, as a
user sees it; each row is the median of ``--rounds`` cold/warm pairs (a shared machine's runs of the same compile
read 0.67 s and, one in five, 1.0 s). Run from the repository root:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compile_time.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import fresh_process_env

ROOT = Path(__file__).resolve().parent.parent

# Runs in the child: builds a graph, compiles it, calls it once; prints timings as JSON.
_CHILD = r"""
import json, sys, time
start = time.perf_counter()
import numpy as np
import symdiff as sd
sys.path.insert(0, {root!r})
from tests.mlp import mlp_graph, mlp_values, sgd_step
kind, size, backend = {kind!r}, {size!r}, {backend!r}
imported = time.perf_counter()
if kind == "mlp":
    inputs, loss = mlp_graph(784, 256, 10)
    outputs, updates = sgd_step(inputs, loss)
    values = mlp_values(128, 784, 256, 10)
else:  # a chain of `size` stages, each an elementwise group feeding a reduction
    x = sd.tensor("x", ("n", 8))
    inputs, acc, outputs, updates = [x], x, [], {{}}
    for k in range(size):
        acc = sd.tanh(acc * 0.5 + k) - sd.mean(acc, axis=1, keepdims=True)
        outputs.append(sd.sum(acc * acc))
    values = [np.linspace(-1, 1, 64).reshape(8, 8)]
built = time.perf_counter()
cpu = time.process_time()
fn = sd.compile(inputs, outputs, updates, backend=backend)
compiled = time.perf_counter()
fn(*values)
done = time.perf_counter()
print(json.dumps({{"import": imported - start, "build": built - imported, "compile": compiled - built,
                  "compile_cpu": time.process_time() - cpu, "first_call": done - compiled, "total": done - start,
                  "nodes": sd.count_nodes(list(outputs) + list(updates.values())),
                  "lines": fn.source.count(chr(10))}}))
"""


def run(kind: str, size: int, backend: str, cache: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT), kind=kind, size=size, backend=backend)],
                         env=fresh_process_env(SYMDIFF_CACHE_DIR=cache), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20, 40, 80], help="chain lengths")
    parser.add_argument("--numba-sizes", type=int, nargs="*", default=[5, 20],
                        help="chain lengths also compiled by the Numba backend, for comparison")
    parser.add_argument("--rounds", type=int, default=3, help="cold/warm pairs per row; the median is shown")
    args = parser.parse_args()
    rows = [("mlp", 0, "native"), ("mlp", 0, "numba")] + [("chain", n, "native") for n in args.sizes]
    rows += [("chain", n, "numba") for n in args.numba_sizes]
    print(f"{'graph':>12} {'backend':>8} {'nodes':>6} {'lines':>6} {'cold s':>8} {'cold cpu s':>10} {'warm s':>8}")
    for kind, size, backend in rows:
        pairs = []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as cache:
                pairs.append((run(kind, size, backend, cache), run(kind, size, backend, cache)))
        cold, warm = [statistics.median(pair[k]["total"] for pair in pairs) for k in (0, 1)]
        cpu = statistics.median(cold_run["compile_cpu"] for cold_run, _ in pairs)
        first = pairs[0][0]
        label = "MLP step" if kind == "mlp" else f"chain {size}"
        print(f"{label:>12} {backend:>8} {first['nodes']:>6} {first['lines']:>6} {cold:>8.2f} {cpu:>10.2f} "
              f"{warm:>8.2f}")
    print(f"cold: build + compile + first call in a new process with an empty cache (includes imports); median of "
          f"{args.rounds};")
    print("warm: the same in a new process with the cache filled. Times include Python/NumPy/symdiff imports;")
    print("bytecode caching on (Python's default). The native backend never imports Numba.")


if __name__ == "__main__":
    main()
