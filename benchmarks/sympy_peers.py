"""Gradient and Hessian of SymPy expressions at many points: `sd.compile_sympy` against its peers.

Problems (10 inputs each, float64, fixed seeded constants as SymPy Floats):
  rosenbrock  sum_{i<9} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
  tanh-sum    sum_{j<10} tanh(w_j . x + b_j)^2
  mlp         a 10 -> 6 -> 6 -> 1 tanh MLP (linear output)

Peers (each one entry of `PEERS`; '-' when its package is missing): symdiff `compile_sympy` (value,
gradient and Hessian in one kernel); `sympy.lambdify` of `sp.diff` results with cse=True; SymEngine
`Lambdify` (LLVM backend) of SymEngine derivatives; JAX `jit(vmap(grad(f)))` and `jit(vmap(hessian(f)))`
of f written in jax.numpy; CasADi SX `hessian` in a Function mapped over the points.

Setup = SymPy expression to first result at every point (differentiation, code generation, JIT
compilation, first call); symdiff's runs in fresh processes, cold (empty SYMDIFF_CACHE_DIR) then warm.
Run from the repository root (the env vars force slow OpenBLAS kernels on this machine):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/sympy_peers.py
"""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from common import OtherLoad, environment_report, fresh_process_env, pin_threads, thread_count, time_calls, usable_cores

NARGS = 10
TANH_TERMS = 10
MLP_HIDDEN = 6
CHECK_ROWS = 8  # points compared between peers (the first rows of the benchmark points)
AGREEMENT_RTOL = 1e-9
EXTRA_PACKAGES = ("sympy", "symengine", "casadi")


@dataclass(frozen=True)
class Problem:
    """One function of NARGS inputs in two spellings computing the same thing.

    `sympy(symbols)` is the SymPy expression every peer but JAX starts from; `jax(x, jnp)` is the
    same function of a (NARGS,) array in jax.numpy (jnp passed in so JAX is imported only when used).
    """

    sympy: Callable[[list[sp.Symbol]], sp.Expr]
    jax: Callable[[Any, Any], Any]


def _rosenbrock() -> Problem:
    def sym(x):
        return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(NARGS - 1))

    def jax(x, jnp):
        return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    return Problem(sym, jax)


def _layer(rng: np.random.Generator, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights scaled by 1/sqrt(fan_in) so the tanh units stay out of saturation."""
    return rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), 0.1 * rng.standard_normal(n_out)


def _tanh_sum(seed: int = 0) -> Problem:
    w, b = _layer(np.random.default_rng(seed), TANH_TERMS, NARGS)

    def sym(x):
        pre = sp.Matrix(w.tolist()) * sp.Matrix(x) + sp.Matrix(b.tolist())  # Python floats -> sp.Float
        return sum(sp.tanh(p) ** 2 for p in pre)

    def jax(x, jnp):
        return jnp.sum(jnp.tanh(w @ x + b) ** 2)

    return Problem(sym, jax)


def _mlp(seed: int = 1) -> Problem:
    rng = np.random.default_rng(seed)
    layers = [_layer(rng, MLP_HIDDEN, NARGS), _layer(rng, MLP_HIDDEN, MLP_HIDDEN), _layer(rng, 1, MLP_HIDDEN)]
    hidden = len(layers) - 1  # layers before the linear output

    def sym(x):
        h = sp.Matrix(x)
        for k, (W, b) in enumerate(layers):
            h = sp.Matrix(W.tolist()) * h + sp.Matrix(b.tolist())
            h = h.applyfunc(sp.tanh) if k < hidden else h
        return h[0]

    def jax(x, jnp):
        for k, (W, b) in enumerate(layers):
            x = W @ x + b
            x = jnp.tanh(x) if k < hidden else x
        return x[0]

    return Problem(sym, jax)


PROBLEMS: dict[str, Callable[[], Problem]] = {"rosenbrock": _rosenbrock, "tanh-sum": _tanh_sum, "mlp": _mlp}


def make_points(n: int, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.5, 1.5, size=(n, NARGS))


def symbols() -> list[sp.Symbol]:
    return list(sp.symbols(f"x0:{NARGS}", real=True))


@dataclass(frozen=True)
class Evaluator:
    """A ready peer: `run()` evaluates at every benchmark point (what is timed) and ends with dense
    gradient (N, n) and Hessian (N, n, n) arrays in the peer's native container; `standard(output)`
    names them: {"grad": ..., "hessian": ...[, "value": ...]}."""

    run: Callable[[], object]
    standard: Callable[[Any], dict[str, np.ndarray]]


def build_symdiff(problem: Problem, points: np.ndarray) -> Evaluator:
    """One kernel gives value, gradient and Hessian; its dict is already the standard layout."""
    import symdiff as sd

    kernel = sd.compile_sympy(problem.sympy(args := symbols()), args)
    # Newer kernels split the points over `threads` (default: every core); hold them to --threads too.
    threads = {"threads": thread_count()} if "threads" in inspect.signature(kernel.__call__).parameters else {}
    return Evaluator(lambda: kernel(points, **threads), lambda out: out)


def build_sympy(problem: Problem, points: np.ndarray) -> Evaluator:
    """SymPy differentiates; lambdify gets one flat list, as cse=True silently does nothing on the
    nested [grad, hessian] lists (SymPy 1.14). lambdify returns constant entries as scalars, so the
    timed call includes stacking them into the (N, n) and (N, n, n) arrays every other peer returns."""
    args = symbols()
    expr = problem.sympy(args)
    grads = [sp.diff(expr, a) for a in args]
    hessian = [sp.diff(g, a) for g in grads for a in args]
    fn = sp.lambdify(args, grads + hessian, "numpy", cse=True)
    columns = list(np.ascontiguousarray(points.T))

    def standard(out):
        flat = _stack(out, len(points))
        return {"grad": flat[:, :NARGS], "hessian": flat[:, NARGS:].reshape(-1, NARGS, NARGS)}

    return Evaluator(lambda: standard(fn(*columns)), lambda out: out)


def _stack(entries: list[Any], n: int) -> np.ndarray:
    return np.stack([np.broadcast_to(e, (n,)) for e in entries], axis=-1)


SYMENGINE_BACKEND: list[str] = []  # the backend used, reported once in the environment lines


def build_symengine(problem: Problem, points: np.ndarray) -> Evaluator:
    """SymEngine differentiates its own copy of the expression; Lambdify maps over the rows itself."""
    import symengine as se

    args = [se.sympify(a) for a in symbols()]
    expr = se.sympify(problem.sympy(symbols()))
    grads = [expr.diff(a) for a in args]
    hessian = se.Matrix([[g.diff(a) for a in args] for g in grads])
    try:
        fn = se.Lambdify(args, grads, hessian, backend="llvm", cse=True)
        backend = "llvm"
    except (ValueError, RuntimeError, TypeError) as error:  # SymEngine built without LLVM
        print(f"symengine: llvm backend unavailable ({error}); using the default backend")
        fn, backend = se.Lambdify(args, grads, hessian, cse=True), "default (lambda)"
    SYMENGINE_BACKEND[:] = [backend]
    return Evaluator(lambda: fn(points), lambda out: {"grad": out[0], "hessian": out[1]})


def build_jax(problem: Problem, points: np.ndarray) -> Evaluator:
    """Two jitted functions, as a JAX user writes them: vmapped grad and vmapped hessian."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def f(x):
        return problem.jax(x, jnp)

    grad_fn, hessian_fn = jax.jit(jax.vmap(jax.grad(f))), jax.jit(jax.vmap(jax.hessian(f)))
    x = jnp.asarray(points)
    return Evaluator(lambda: jax.block_until_ready((grad_fn(x), hessian_fn(x))),
                     lambda out: {"grad": np.asarray(out[0]), "hessian": np.asarray(out[1])})


def build_casadi(problem: Problem, points: np.ndarray) -> Evaluator:
    """SymPy -> SX through lambdify, SX `hessian`, one Function mapped over the points, run through
    CasADi's buffer interface on NumPy memory (DM.full() conversions cost ~10x the evaluation)."""
    import casadi as ca

    x = ca.SX.sym("x", NARGS)
    expr = sp.lambdify(symbols(), problem.sympy(symbols()), modules=[{"tanh": ca.tanh}])(*ca.vertsplit(x))
    hessian, grad = ca.hessian(expr, x)
    function = ca.Function("f", [x], [grad, ca.densify(hessian)])  # dense: a full Hessian like the others
    buffer, evaluate = function.map(len(points), "thread", thread_count()).buffer()
    # CasADi is column-major: the C-ordered (N, n) points are its (n, N) matrix, and (N, n, n) its (n, n*N)
    # Hessians side by side (transposed per point, which a symmetric matrix does not notice).
    columns, grads = np.ascontiguousarray(points), np.empty(points.shape)
    hessians = np.empty((len(points), NARGS, NARGS))
    buffer.set_arg(0, memoryview(columns))
    for k, out in enumerate((grads, hessians)):
        buffer.set_res(k, memoryview(out))

    def run(keep_alive=(buffer, columns)):  # CasADi holds raw pointers into these: they must outlive `run`
        evaluate()
        return grads, hessians

    return Evaluator(run, lambda out: {"grad": out[0], "hessian": out[1]})


PEERS: dict[str, Callable[[Problem, np.ndarray], Evaluator]] = {
    "symdiff": build_symdiff, "sympy": build_sympy, "symengine": build_symengine,
    "jax": build_jax, "casadi": build_casadi,
}
REFERENCE = "symdiff"


def symdiff_setup_child(problem_name: str, n_points: int) -> None:
    """In a fresh process: time compile_sympy + first call; print the seconds as JSON."""
    import symdiff  # noqa: F401 - like the other peers' imports
    import symdiff.codegen.pointwise  # noqa: F401 - compiler imports (symdiff, llvmlite) kept out of the timing,

    problem, points = PROBLEMS[problem_name](), make_points(n_points)
    problem.sympy(symbols())  # the input expression exists before setup starts, as in the in-process peers
    start = time.perf_counter()
    build_symdiff(problem, points).run()
    print(json.dumps({"setup": time.perf_counter() - start}))


def symdiff_setups(problem_name: str, n_points: int, cache: str) -> tuple[float, float]:
    """Cold (empty `cache`) then warm (filled) setup seconds of symdiff, each in a new process."""
    def child() -> float:
        cmd = [sys.executable, __file__, "--symdiff-child", problem_name, "--points", str(n_points)]
        done = subprocess.run(cmd, env=fresh_process_env(SYMDIFF_CACHE_DIR=cache), capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"symdiff setup child for {problem_name} failed:\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])["setup"]

    return child(), child()


def build_all(problem: Problem, points: np.ndarray) -> tuple[dict[str, Evaluator], dict[str, float], dict]:
    """Every installed peer, its in-process setup seconds (build + first call), and its first output."""
    evaluators, setups, outputs = {}, {}, {}
    for name, build in PEERS.items():
        start = time.perf_counter()
        try:
            evaluator = build(problem, points)
        except ImportError:
            continue  # package not installed: the row shows '-'
        outputs[name] = evaluator.run()
        setups[name] = time.perf_counter() - start
        evaluators[name] = evaluator
    return evaluators, setups, outputs


def check_agreement(problem_name: str, problem: Problem, points: np.ndarray, evaluators: dict[str, Evaluator],
                    outputs: dict) -> None:
    """Stop unless every peer's gradient and Hessian (and symdiff's value, against SymPy's) match
    symdiff's on the first CHECK_ROWS points to AGREEMENT_RTOL, norm-wise relative."""
    results = {name: {k: v[:CHECK_ROWS] for k, v in evaluators[name].standard(outputs[name]).items()}
               for name in evaluators}
    reference = results[REFERENCE]
    value_fn = sp.lambdify(symbols(), problem.sympy(symbols()), "numpy")
    results["sympy value"] = {"value": np.array([float(value_fn(*row)) for row in points[:CHECK_ROWS]])}
    worst = 0.0
    for name, result in results.items():
        for what, actual in result.items():
            expected = reference[what]
            error = np.linalg.norm(actual - expected) / np.linalg.norm(expected)
            worst = max(worst, error)
            if not error <= AGREEMENT_RTOL:
                sys.exit(f"{name} disagrees with {REFERENCE} on the {what} of {problem_name}: "
                         f"relative difference {error:.3g} > {AGREEMENT_RTOL}")
    print(f"{problem_name}: {', '.join(evaluators)} agree on {CHECK_ROWS} points (worst {worst:.1e})")


@dataclass
class Row:
    """One line of the table: setup seconds (symdiff: cold and warm, new processes) and seconds per point."""

    setup: float | None = None
    warm_setup: float | None = None
    per_point: float | None = None


def measure(problem_name: str, n_points: int, repeats: int) -> tuple[dict[str, Row], float]:
    """Rows of one problem for every peer (empty Row when missing), and the other load while timing."""
    problem, points = PROBLEMS[problem_name](), make_points(n_points)
    rows = {name: Row() for name in PEERS}
    with tempfile.TemporaryDirectory() as cache:
        rows[REFERENCE].setup, rows[REFERENCE].warm_setup = symdiff_setups(problem_name, n_points, cache)
        os.environ["SYMDIFF_CACHE_DIR"] = cache  # the in-process build below is then warm and leaves no trace
        try:
            evaluators, setups, outputs = build_all(problem, points)
        finally:
            del os.environ["SYMDIFF_CACHE_DIR"]
    check_agreement(problem_name, problem, points, evaluators, outputs)
    del outputs  # several 80 MB Hessian arrays
    for name, seconds in setups.items():
        if name != REFERENCE:  # symdiff's setup is the cold one, from a new process
            rows[name].setup = seconds
    with OtherLoad() as load:
        seconds = time_calls({name: e.run for name, e in evaluators.items()}, repeats=repeats)
    for name, per_call in seconds.items():
        rows[name].per_point = per_call / n_points
    return rows, load.cores


def render(results: dict[str, dict[str, Row]]) -> str:
    """One text table: a line per (problem, peer); ratio = ns/point over the problem's fastest peer."""
    header = ["problem", "peer", "setup s", "warm setup s", "ns/point", "vs fastest"]
    lines = [header]
    for problem_name, rows in results.items():
        fastest = min((r.per_point for r in rows.values() if r.per_point is not None), default=None)
        for name, row in rows.items():
            measured = row.per_point is not None
            warm = "" if measured and row.warm_setup is None else _fmt(row.warm_setup, ".2f")  # no cache to warm
            lines.append([problem_name, name, _fmt(row.setup, ".2f"), warm,
                          f"{row.per_point * 1e9:.1f}" if measured else "-",
                          f"{row.per_point / fastest:.2f}x" if measured else "-"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
            for line in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000, help="points per call (N)")
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--repeats", type=int, default=5, help="timed batches per cell; the best is kept")
    parser.add_argument("--threads", type=int, default=usable_cores(), help="threads for every library")
    parser.add_argument("--symdiff-child", choices=list(PROBLEMS), help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    if args.symdiff_child:
        return symdiff_setup_child(args.symdiff_child, args.points)
    if args.points < CHECK_ROWS:
        parser.error(f"--points must be at least {CHECK_ROWS} (the points checked for agreement)")
    pin_threads(args.threads)  # before any peer imports its library; the symdiff children inherit it
    results, other_load = {}, {}
    for name in args.problems:
        results[name], other_load[name] = measure(name, args.points, args.repeats)
    print(f"\ngradient + Hessian of one expression of {NARGS} inputs at N = {args.points} float64 points, "
          f"{args.threads} thread(s)")
    print(render(results))
    print("setup: SymPy expression -> first result at all N points (differentiation, codegen, JIT, first call),\n"
          "  imports excluded; symdiff's in a new process, cold (empty SYMDIFF_CACHE_DIR) then warm (cache filled).\n"
          "ns/point: best of --repeats batches; symdiff's call also returns the value. '-' = not installed.")
    for name, cores in other_load.items():
        print(f"while timing {name}, other processes kept {cores:.2f} of {usable_cores()} cores busy")
    print(environment_report())
    print(" | ".join(f"{p} {_version(p)}" for p in EXTRA_PACKAGES)
          + (f" | symengine backend: {SYMENGINE_BACKEND[0]}" if SYMENGINE_BACKEND else ""))


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    main()
