"""Exported modules (issue 13, point 7): lines of the README's one-layer export and of the demo's training step,
and the first import of the demo's export with Numba, cold (empty Numba cache) and warm, each in a fresh process.

Targets: at most 200 and 500 lines; the import at most 5 s cold and 1 s warm. Run from the repository root:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/export_size.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import environment_report, fresh_process_env

TARGETS = {"one_layer": 200, "demo_step": 500}

#: The README's "A taste of the API" step.
_ONE_LAYER = """
import sys, symdiff as sd
x = sd.tensor("x", shape=("batch", 3))
W = sd.tensor("W", shape=(3, 4))
loss = sd.sum(sd.tanh(x @ W) ** 2)
sd.export(sd.compile([x, W], loss, updates={W: W - 0.1 * sd.grad(loss, W)}), sys.argv[1])
"""

_IMPORT = "import sys, time; sys.path.insert(0, sys.argv[1]); t = time.perf_counter(); import demo_step; " \
          "print(time.perf_counter() - t)"


def exports(scratch: Path) -> dict[str, Path]:
    """Write both exports into ``scratch``."""
    paths = {"one_layer": scratch / "one_layer.py", "demo_step": scratch / "demo_step.py"}
    subprocess.run([sys.executable, "-c", _ONE_LAYER, str(paths["one_layer"])], check=True)
    subprocess.run([sys.executable, "-m", "symdiff.cli", "demo", "-o", str(paths["demo_step"])], check=True,
                   cwd=scratch, stdout=subprocess.DEVNULL)
    return paths


def import_seconds(directory: Path, numba_cache: Path) -> float:
    """Seconds the first ``import demo_step`` takes in a fresh process with this Numba cache directory."""
    shutil.rmtree(directory / "__pycache__", ignore_errors=True)
    env = fresh_process_env(NUMBA_CACHE_DIR=str(numba_cache))
    done = subprocess.run([sys.executable, "-c", _IMPORT, str(directory)], env=env, check=True, text=True,
                          capture_output=True)
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="cold/warm import pairs (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        for name, path in exports(scratch).items():
            lines, target = len(path.read_text().splitlines()), TARGETS[name]
            print(f"{name:10s} {lines:5d} lines (target {target}: {'met' if lines <= target else 'missed'})")
        cold, warm = [], []
        for k in range(args.rounds):
            cache = scratch / f"numba_cache{k}"
            cold.append(import_seconds(scratch, cache))
            warm.append(import_seconds(scratch, cache))
            time.sleep(0.5)
        print(f"first import of demo_step: cold {min(cold):.2f}-{max(cold):.2f} s (target 5), "
              f"warm {min(warm):.2f}-{max(warm):.2f} s (target 1), {args.rounds} rounds")
    print(environment_report())


if __name__ == "__main__":
    main()
