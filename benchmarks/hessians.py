"""Hessians at scale: symdiff's compiled (vectorized, simplified) Hessian against jax.jit(jax.hessian) and the NumPy
closed form, float64, one run.

1. Logistic loss with a ridge, n = 1000 rows, d = 50, 200, 1000, 2000 parameters: time per Hessian, and symdiff's
   cold compile in a new process (imports included, empty kernel cache) and graph size.
2. A 2-layer tanh MLP (8 inputs, 16 hidden, 1 output: a few hundred parameters) with squared error: the Hessian
   with respect to all parameters (flattened), symdiff vs JAX.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/hessians.py      # JAX optional

Needs threadpoolctl; JAX is used when importable (it is in the peers' environment, see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

import numpy as np
from common import environment_report, fresh_process_env, pin_threads, thread_count, time_call

ROWS = 1000
LAMBDA = 1e-2

_COLD = r"""
import json, time
start = time.perf_counter()
import numpy as np, symdiff as sd
d = {d}
X, w = sd.tensor("X", ("n", d)), sd.tensor("w", (d,))
f = sd.mean(sd.softplus(X @ w)) + 0.5 * {lam} * sd.sum(w * w)
H = sd.hessian(f, w)
fn = sd.compile([X, w], H)
fn(np.ones((3, d)), np.zeros(d))
print(json.dumps({{"seconds": time.perf_counter() - start, "nodes": sd.count_nodes(H)}}))
"""


def cold_compile(d: int) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = fresh_process_env(SYMDIFF_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", _COLD.format(d=d, lam=LAMBDA)], env=env, capture_output=True,
                             text=True, check=True)
    return json.loads(out.stdout)


def logistic_problem(d: int, seed: int = 0):
    r = np.random.default_rng(seed)
    return r.normal(size=(ROWS, d)) / np.sqrt(d), r.normal(size=d)


def closed_form(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    s = 1.0 / (1.0 + np.exp(-(X @ w)))
    H = (X.T * (s * (1.0 - s) / X.shape[0])) @ X
    H[np.diag_indices_from(H)] += LAMBDA
    return H


def symdiff_logistic(d: int):
    import symdiff as sd

    X, w = sd.tensor("X", ("n", d)), sd.tensor("w", (d,))
    f = sd.mean(sd.softplus(X @ w)) + 0.5 * LAMBDA * sd.sum(w * w)
    return sd.compile([X, w], sd.hessian(f, w))


def jax_logistic():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def f(w, X):
        return jnp.mean(jax.nn.softplus(X @ w)) + 0.5 * LAMBDA * jnp.sum(w * w)

    hessian = jax.jit(jax.hessian(f))
    return lambda X, w: hessian(w, X).block_until_ready()


def _jax():
    try:
        import jax  # noqa: F401
    except ImportError:
        return None
    return True


def mlp_problem(seed: int = 1):
    r = np.random.default_rng(seed)
    sizes = {"W1": (8, 16), "b1": (16,), "W2": (16, 1), "b2": (1,)}
    params = {k: r.normal(size=s) * 0.5 for k, s in sizes.items()}
    return r.normal(size=(64, 8)), r.normal(size=(64, 1)), params


def symdiff_mlp(params: dict):
    import symdiff as sd

    total = sum(v.size for v in params.values())
    x, t, theta = sd.tensor("x", ("batch", 8)), sd.tensor("t", ("batch", 1)), sd.tensor("theta", (total,))
    offsets, parts = np.cumsum([0] + [v.size for v in params.values()]), {}
    for (k, v), lo, hi in zip(params.items(), offsets[:-1], offsets[1:]):
        parts[k] = sd.reshape(theta[int(lo):int(hi)], v.shape)
    y = sd.tanh(x @ parts["W1"] + parts["b1"]) @ parts["W2"] + parts["b2"]
    fn = sd.compile([x, t, theta], sd.hessian(sd.mean((y - t) ** 2), theta))
    return fn, np.concatenate([v.ravel() for v in params.values()])


def jax_mlp(params: dict):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    shapes = [v.shape for v in params.values()]
    sizes = [v.size for v in params.values()]

    def f(theta, x, t):
        pieces, start = [], 0
        for shape, size in zip(shapes, sizes):
            pieces.append(theta[start:start + size].reshape(shape))
            start += size
        W1, b1, W2, b2 = pieces
        y = jnp.tanh(x @ W1 + b1) @ W2 + b2
        return jnp.mean((y - t) ** 2)

    hessian = jax.jit(jax.hessian(f))
    return lambda x, t, theta: hessian(theta, x, t).block_until_ready()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000, 2000])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    pin_threads(args.threads or thread_count())
    have_jax = _jax()
    print(f"Logistic loss + ridge, n = {ROWS}: time per Hessian (ratio to the NumPy closed form)")
    print(f"{'d':>6} {'closed form':>12} {'symdiff':>18} {'jax.hessian':>18} {'vs jax':>8} "
          f"{'cold compile':>13} {'nodes':>6}")
    for d in args.sizes:
        X, w = logistic_problem(d)
        want = closed_form(X, w)
        fn = symdiff_logistic(d)
        np.testing.assert_allclose(fn(X, w), want, rtol=1e-10, atol=1e-12)
        base = time_call(lambda X=X, w=w: closed_form(X, w))
        ours = time_call(lambda fn=fn, X=X, w=w: fn(X, w))
        theirs = None
        if have_jax:
            jh = jax_logistic()
            np.testing.assert_allclose(np.asarray(jh(X, w)), want, rtol=1e-10, atol=1e-12)
            theirs = time_call(lambda jh=jh, X=X, w=w: jh(X, w))
        cold = cold_compile(d)
        jax_text = f"{theirs * 1e3:>10.2f} ms ({theirs / base:4.2f}x)" if theirs else f"{'-':>18}"
        ratio = f"{theirs / ours:>7.2f}x" if theirs else f"{'-':>8}"
        print(f"{d:>6} {base * 1e3:>9.2f} ms {ours * 1e3:>10.2f} ms ({ours / base:4.2f}x) {jax_text} {ratio} "
              f"{cold['seconds']:>11.2f} s {cold['nodes']:>6}")
    x, t, params = mlp_problem()
    fn, theta = symdiff_mlp(params)
    ours = time_call(lambda: fn(x, t, theta))
    line = f"2-layer tanh MLP, {theta.size} parameters, batch {x.shape[0]}: symdiff {ours * 1e6:.1f} µs"
    if have_jax:
        jh = jax_mlp(params)
        np.testing.assert_allclose(np.asarray(jh(x, t, theta)), fn(x, t, theta), rtol=1e-9, atol=1e-12)
        theirs = time_call(lambda: jh(x, t, theta))
        line += f", jax.hessian {theirs * 1e6:.1f} µs ({theirs / ours:.2f}x symdiff's time)"
    print(line)
    print(environment_report())


if __name__ == "__main__":
    main()
