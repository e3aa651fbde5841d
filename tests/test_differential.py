"""The permanent guard: compiled functions compute exactly what ``sd.evaluate`` computes, for random graphs.

Random typed graphs (tests/differential.py) with random outputs and in-place updates are compiled on both
backends, with fusion and simplification on and off, run at several sizes of the named batch dim, and compared
entry by entry with the reference evaluator on the values before the step. Random gradients and Hessian-vector
products are compared with central differences.

CI runs a bounded number of examples with fixed seeds. The soak (a long random run) is::

    SYMDIFF_SOAK_EXAMPLES=2000 python -m pytest tests/test_differential.py -p no:cacheprovider

which draws that many examples per property from fresh random seeds (add ``-x`` to stop at the first failure;
Hypothesis prints the shrunk graph and the seed to reproduce it).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symdiff as sd
from symdiff.codegen.llvm import thread_pool, threads
from tests.differential import Program, draw_program

SOAK = int(os.environ.get("SYMDIFF_SOAK_EXAMPLES", "0"))
BATCHES = (1, 3, 0)


def _settings(examples: int):
    """CI: ``examples`` per property, derandomized (the same graphs every run); soak: SOAK, fresh seeds."""
    return settings(max_examples=SOAK or examples, deadline=None, derandomize=not SOAK, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


def assert_same(got, want, rtol: float, what: str) -> None:
    """Entry by entry: equal nan and inf positions, finite entries within ``rtol`` of the array's scale."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, reference {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, reference {want.dtype}"
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: nan positions")
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)], err_msg=what)
    scale = max(1.0, float(np.abs(want[finite]).max())) if finite.any() else 1.0
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=rtol * scale, err_msg=what)


def check_program(program: Program, seed: int, rtol: float, **options) -> None:
    """Compile ``program`` with ``options`` and compare every output and update with the reference."""
    names = ["x", "P", "q", "s", "labels", "r"]
    inputs = [program.inputs[n] for n in names]
    fn = sd.compile(inputs, program.outputs, program.updates, **options)
    params = list(program.updates)
    for batch in BATCHES:
        feed = program.feed(batch, seed)
        by_node = {program.inputs[n]: feed[n] for n in names}
        try:
            want = sd.evaluate(program.outputs + [program.updates[p] for p in params], by_node)
        except (ValueError, sd.FeedError) as exc:  # e.g. max over an empty batch: the kernel must refuse too
            args = [feed[n].copy() for n in names]
            with pytest.raises(ValueError):
                fn(*args)
            assert "zero-size" in str(exc) or "empty" in str(exc) or batch == 0, exc
            continue
        args = [feed[n].copy() for n in names]
        got = list(fn(*args))  # outputs given as a list: a sequence back
        where = f"{program.describe()} | batch {batch} {options}"
        for k, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, rtol, f"output {k} of {where}")
        for k, p in enumerate(params):
            assert_same(args[names.index(p.name)], want[len(program.outputs) + k], rtol, f"update of {p.name}: {where}")
        for n in names:  # parameters without an update are left alone
            if program.inputs[n] not in program.updates:
                np.testing.assert_array_equal(args[names.index(n)], feed[n], err_msg=f"{n} changed: {where}")


@_settings(150)
@given(st.data(), st.integers(0, 2**31), st.booleans(), st.booleans())
def test_native_kernels_match_the_reference(data, seed, fuse, simplify):
    check_program(draw_program(data), seed, 1e-12, backend="native", fuse=fuse, simplify=simplify)


@_settings(6)
@given(st.data(), st.integers(0, 2**31), st.booleans(), st.booleans())
def test_numba_kernels_match_the_reference(data, seed, fuse, simplify):
    check_program(draw_program(data, max_steps=5), seed, 1e-12, backend="numba", fuse=fuse, simplify=simplify)


@_settings(40)
@given(st.data(), st.integers(0, 2**31), st.booleans())
def test_calls_split_over_rows_match_the_reference(data, seed, simplify):
    # threads=2: every call of 2 or more rows of a graph that treats rows independently runs as two shards in
    # threads plus the combining kernel (symdiff/parallel/); other graphs run the one kernel
    check_program(draw_program(data), seed, 1e-12, backend="native", simplify=simplify, threads=2)


@_settings(40)
@given(st.data(), st.integers(0, 2**31), st.booleans())
def test_kernels_with_loop_nests_on_threads_match_the_reference(data, seed, fuse):
    # every elementwise nest of two iterations or more runs as a job of the thread pool in chunks of one iteration,
    # the chunks left to the workers (codegen/llvm/threads.py)
    with threads.min_work(1, 1), thread_pool.calling_thread_idle():
        check_program(draw_program(data), seed, 1e-12, backend="native", fuse=fuse, threads=1)


@_settings(15)
@given(st.data(), st.integers(0, 2**31), st.booleans())
def test_float32_kernels_round_like_numpy(data, seed, fuse):
    # float32 follows NumPy's per-op rounding; the fast transcendentals are within 1 ulp, so allow a few ulps
    # amplified through the graph
    check_program(draw_program(data, dtype="float32"), seed, 2e-5, backend="native", fuse=fuse)


def _central_gradient(f, x0: np.ndarray, h: float) -> np.ndarray:
    out = np.empty_like(x0)
    for i in range(x0.size):
        e = np.zeros_like(x0)
        e.flat[i] = h
        out.flat[i] = (f(x0 + e) - f(x0 - e)) / (2 * h)
    return out


@_settings(20)
@given(st.data(), st.integers(0, 2**31))
def test_gradients_and_hessian_vector_products_match_central_differences(data, seed):
    program = draw_program(data, smooth=True, max_steps=6)
    x, q = program.inputs["x"], program.inputs["q"]
    f = sum(sd.sum(o) for o in program.outputs)
    if not any(n is q for n in sd.inputs_of(f)):
        f = f + sd.sum(sd.tanh(q))
    others = {k: v for k, v in program.feed(2, seed).items() if k != "q"}
    feed = {program.inputs[k]: v for k, v in others.items() if k != "labels"} | {program.inputs["labels"]: others["labels"]}
    q0 = program.feed(2, seed)["q"]
    v = np.random.default_rng(seed + 1).standard_normal(3)

    def value(qv):
        return float(sd.evaluate([f], feed | {q: qv})[0])

    g = sd.grad(f, q)
    hv = sd.hvp(f, q, sd.constant(v))

    def gradient(qv):
        return sd.evaluate([g], feed | {q: qv})[0]

    got_g, got_hv = sd.evaluate([g, hv], feed | {q: q0})
    assert_same(got_g, _central_gradient(value, q0, 1e-5), 1e-5, f"gradient of {program.describe()}")
    want_hv = (gradient(q0 + 1e-5 * v) - gradient(q0 - 1e-5 * v)) / 2e-5
    assert_same(got_hv, want_hv, 1e-5, f"Hessian-vector product of {program.describe()}")
    compiled = sd.compile([x, q, program.inputs["P"], program.inputs["s"]], [g, hv])
    got = compiled(others["x"], q0, others["P"], others["s"])
    assert_same(got[0], got_g, 1e-12, "compiled gradient")
    assert_same(got[1], got_hv, 1e-12, "compiled Hessian-vector product")


@_settings(20)
@given(st.data(), st.integers(0, 2**31))
def test_taylor_mode_matches_repeated_differentiation(data, seed):
    """``sd.taylor`` in the scalar input ``s`` of a random smooth graph: every coefficient equals the symbolic
    derivative over k!, and the compiled series equals the reference."""
    program = draw_program(data, smooth=True, max_steps=6)
    x, s = program.inputs["x"], program.inputs["s"]
    f = sum(sd.sum(o) for o in program.outputs) + sd.tanh(s) * sd.sum(x)  # s always reaches f
    if any(n.op == "scan" for n in sd.toposort([f])):
        return  # loops have no Taylor rule (a NotImplementedError, tested in test_taylor.py)
    feed = {program.inputs[k]: v for k, v in program.feed(2, seed).items()}
    series = sd.taylor(f, s, 3)
    got = sd.evaluate(series, feed)
    want = [sd.evaluate(sd.derivative(f, s, k), feed) / np.prod(np.arange(1, k + 1)) for k in range(4)]
    assert_same(got, np.stack(want), 1e-9, f"Taylor series of {program.describe()}")
    names = [n for n in ("x", "P", "q", "s", "labels") if any(i is program.inputs[n] for i in sd.inputs_of(f))]
    compiled = sd.compile([program.inputs[n] for n in names], series)
    assert_same(compiled(*(feed[program.inputs[n]] for n in names)), got, 1e-12, "compiled Taylor series")
