"""High-order derivatives: the 10th derivative of sin composed 7 times, at x = 0.3 (issue 14 point 5).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /work/venv-peers/bin/python benchmarks/high_order.py

Each way runs in a fresh process (cold: an empty kernel cache), reporting the graph build, the compilation, the
call (best of batches) and the value against mpmath at 40 digits:

* symdiff symbolic  ``sd.derivative(f, x, 10)``: repeated forward mode, simplified after every order;
* symdiff taylor    ``sd.derivative(f, x, 10, mode="taylor")``: one Taylor-mode pass (``sd.taylor``);
* JAX jet           ``jax.jit`` of ``jax.experimental.jet.jet`` (JAX's Taylor mode), when JAX is installed.

Nested ``jax.grad`` ten deep did not finish in 10 minutes on this machine (issue 14), so it is not run.
Anchors from the issue: a SymPy-core prototype with an llvmlite backend (protosym) 0.21 s compile, 2.3 us per
call; SymEngine 35.9 s and 88.9 us.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from common import environment_report, fresh_process_env

ORDER, DEPTH, POINT = 10, 7, 0.3

SYMDIFF = """
import json, sys, time
t0 = time.perf_counter()
import symdiff as sd
from common import time_call
t1 = time.perf_counter()
x = sd.tensor("x", ())
f = x
for _ in range({depth}):
    f = sd.sin(f)
d = sd.derivative(f, x, {order}, mode={mode!r})
t2 = time.perf_counter()
fn = sd.compile([x], d)
value = float(fn({point}))
t3 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "build": t2 - t1, "compile": t3 - t2, "nodes": sd.count_nodes(d),
                  "call": time_call(lambda: fn({point})), "value": value}}))
"""

JAX = """
import json, time
t0 = time.perf_counter()
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
from jax.experimental.jet import jet
from common import time_call
t1 = time.perf_counter()

def f(x):
    for _ in range({depth}):
        x = jnp.sin(x)
    return x

def derivative(x):  # jet's series are derivatives: the input path x + t has first term 1, the rest 0
    _, series = jet(f, (x,), ((jnp.ones_like(x),) + (jnp.zeros_like(x),) * ({order} - 1),))
    return series[-1]

fn = jax.jit(derivative)
point = jnp.float64({point})
t2 = time.perf_counter()
value = float(fn(point).block_until_ready())
t3 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "build": t2 - t1, "compile": t3 - t2, "nodes": None,
                  "call": time_call(lambda: fn(point).block_until_ready()), "value": value}}))
"""


def exact() -> float:
    import mpmath

    mpmath.mp.dps = 40

    def composed(z):
        for _ in range(DEPTH):
            z = mpmath.sin(z)
        return z

    return float(mpmath.diff(composed, mpmath.mpf(str(POINT)), ORDER))


def fresh(script: str) -> dict | None:
    """Run ``script`` in a new process with an empty kernel cache; its JSON line, or None when it fails."""
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900,
                              env=fresh_process_env(SYMDIFF_CACHE_DIR=cache, PYTHONPATH=here))
    if done.returncode != 0:
        print(f"  (failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode})")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    print(environment_report())
    truth = exact()
    runs = {}
    for mode in ("symbolic", "taylor"):
        runs[f"symdiff {mode}"] = fresh(SYMDIFF.format(depth=DEPTH, order=ORDER, mode=mode, point=POINT))
    try:
        import jax  # noqa: F401
    except ImportError:
        print("JAX not installed: jet skipped")
    else:
        runs["JAX jet (jit)"] = fresh(JAX.format(depth=DEPTH, order=ORDER, point=POINT))
    print(f"\n{ORDER}th derivative of sin∘{DEPTH} at x = {POINT} (exact {truth!r}); seconds in a fresh process, "
          "cold cache")
    print(f"{'way':<18} {'nodes':>6} {'build s':>8} {'compile s':>9} {'build+compile':>13} {'call us':>8} "
          f"{'rel. error':>10}")
    for name, run in runs.items():
        if run is None:
            print(f"{name:<18} failed")
            continue
        nodes = f"{run['nodes']:,}" if run["nodes"] is not None else "-"
        error = abs(run["value"] - truth) / abs(truth)
        setup = run["build"] + run["compile"]
        print(f"{name:<18} {nodes:>6} {run['build']:>8.3f} {run['compile']:>9.3f} {setup:>13.3f} "
              f"{run['call'] * 1e6:>8.2f} {error:>10.1e}")
    baseline = runs.get("symdiff taylor")
    if baseline is not None:
        for name, run in runs.items():
            if run is not None and name != "symdiff taylor":
                setup = (run["build"] + run["compile"]) / (baseline["build"] + baseline["compile"])
                call = run["call"] / baseline["call"]
                print(f"symdiff taylor vs {name}: setup {setup:.1f}x faster, call {call:.1f}x faster")
    print("targets (issue 14): build + compile <= 0.5 s, call <= 2.3 us, relative error <= 1e-12")


if __name__ == "__main__":
    main()
