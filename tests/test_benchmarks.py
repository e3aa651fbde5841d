"""Every documented benchmark command still runs (benchmarks/README.md): each with its quickest settings, checked for
the table it prints, not for its numbers (no timing is asserted). Several read symdiff's internals (the kernel entry,
the workspace pools, the LLVM build hooks), so a change there shows here rather than in a later session's
measurements (call_overhead.py failed with "native kernel: expected 4 arguments" until 2026-12-06, unnoticed)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: script and arguments -> text its output must hold
COMMANDS = {
    ("call_overhead.py", "--number", "20"): "native",
    ("mlp_peers.py", "--sizes", "4x2x8x2", "--min-time", "0.001", "--repeats", "1"): "4x2x8x2",
    ("cnn_rnn_peers.py", "--models", "cnn8", "--min-time", "0.001", "--repeats", "1"): "cnn8 float64",
    ("hvp_cost.py", "--batch", "4", "--layers", "4", "3", "--min-time", "0.001", "--repeats", "1"): "hvp ",
    ("sympy_peers.py", "--points", "100", "--problems", "rosenbrock", "--repeats", "1"): "rosenbrock  symdiff",
    ("expression_swell.py", "--max-order", "3", "--check-order", "2"): "nodes in the n-th derivative graph",
    ("mlp_symdiff.py",): "",
}


def _run(*command: str) -> str:
    done = subprocess.run([sys.executable, *command], cwd=ROOT / "benchmarks", capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


@pytest.mark.parametrize("command", list(COMMANDS), ids=lambda command: command[0])
def test_benchmark_runs(command):
    assert COMMANDS[command] in _run(*command)


@pytest.mark.skipif(shutil.which("perf") is None, reason="needs Linux perf")
def test_profile_sections_names_the_kernel_sections():
    probe = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-o", "/dev/null", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("perf may not record here")
    assert "kernel sections:" in _run("profile_sections.py", "cnn8", "float32", "--steps", "5")
