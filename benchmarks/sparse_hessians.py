"""Sparse Hessians: symdiff's structural pattern + colouring + one compressed forward pass, float64, one run.

Two banded problems, n = 10^3, 10^4, 10^5: the chained Rosenbrock function and a 1-D discretized energy
(sum of (u[i+1] - u[i])^2 / 2 plus sqrt(1 + u^2) - u/10). Per n: the number of colours, the time to read the
pattern and colour it, the time of one sparse Hessian (a scipy.sparse matrix) against one compiled gradient,
and JAX's dense jit(hessian) where an n x n matrix is reasonable (n <= 10^4 by default).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/sparse_hessians.py      # JAX optional
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import environment_report, pin_threads, thread_count, time_call


def rosenbrock(x, lib):
    return lib.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def energy(u, lib):
    return lib.sum(0.5 * (u[1:] - u[:-1]) ** 2) + lib.sum(lib.sqrt(1.0 + u * u) - 0.1 * u)


PROBLEMS = {"rosenbrock": rosenbrock, "pde energy": energy}


def jax_dense(problem):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    hessian = jax.jit(jax.hessian(lambda x: problem(x, jnp)))
    return lambda x: hessian(x).block_until_ready()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--jax-max", type=int, default=10_000, help="largest n for JAX's dense Hessian")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    pin_threads(args.threads or thread_count())
    import symdiff as sd
    from symdiff.sparse import color_columns

    try:
        import jax  # noqa: F401

        have_jax = True
    except ImportError:
        have_jax = False
    print(f"{'problem':>11} {'n':>7} {'colours':>7} {'pattern+colour':>14} {'compile':>8} {'gradient':>10} "
          f"{'sparse Hessian':>15} {'ratio':>6} {'jax dense':>12} {'vs jax':>7}")
    for name, problem in PROBLEMS.items():
        for n in args.sizes:
            x = sd.tensor("x", (n,))
            f = problem(x, sd)
            start = time.perf_counter()
            colours = color_columns(sd.hessian_sparsity(f, x))
            analysed = time.perf_counter() - start
            start = time.perf_counter()
            hessian = sd.sparse_hessian(f, x, [x])
            compiled = time.perf_counter() - start
            gradient = sd.compile([x], sd.grad(f, x))
            x0 = np.random.default_rng(0).uniform(-1, 1, n)
            t_grad = time_call(lambda gradient=gradient, x0=x0: gradient(x0))
            t_hess = time_call(lambda hessian=hessian, x0=x0: hessian(x0))
            jax_text, ratio = f"{'-':>12}", f"{'-':>7}"
            if have_jax and n <= args.jax_max:
                dense = jax_dense(problem)
                np.testing.assert_allclose(np.asarray(dense(x0)), hessian(x0).toarray(), rtol=1e-10, atol=1e-10)
                t_jax = time_call(lambda dense=dense, x0=x0: dense(x0))
                jax_text, ratio = f"{t_jax * 1e3:>9.2f} ms", f"{t_jax / t_hess:>6.0f}x"
            print(f"{name:>11} {n:>7} {int(colours.max()) + 1:>7} {analysed:>12.3f} s {compiled:>6.2f} s "
                  f"{t_grad * 1e6:>7.0f} µs {t_hess * 1e6:>12.0f} µs {t_hess / t_grad:>5.1f}x {jax_text} {ratio}")
    print("compile: pattern, colouring and kernel (warm cache after the first run); ratio: sparse Hessian / gradient")
    print(environment_report())


if __name__ == "__main__":
    main()
