"""The printed Numba module: a value read once is written into its reader (and only where that computes the same
numbers), and the module's docstring describes the function."""

import numpy as np
import pytest

import symdiff as sd
from symdiff.codegen import kir
from symdiff.codegen.numba_print import Printer

F = "float64"
A, B, OUT = kir.Array("a", F), kir.Array("b", F), kir.Array("out", F)
X, Y, V, W = (kir.Var(name, F) for name in ("x", "y", "v", "w"))
ZERO, ONE, ONE_F = kir.index(0), kir.index(1), kir.const(1.0, F)


def printed(*statements: kir.Stmt) -> list[str]:
    return Printer().body(list(statements), "")


def run(lines: list[str], **arrays: np.ndarray) -> dict[str, np.ndarray]:
    """The printed statements run as plain Python (``_ix`` is an index cast) on copies of ``arrays``."""
    scope = {"_ix": int, "np": np, **{k: v.copy() for k, v in arrays.items()}, "x": 2.0, "y": 3.0}
    exec("\n".join(lines), scope)  # noqa: S102 - the printer's own output for IR built here
    return scope


def test_a_value_read_once_is_written_into_the_statement_reading_it():
    lines = printed(kir.Let(V, kir.op("add", X, Y), "n1 add"), kir.Let(W, kir.op("mul", V, X), "n2 multiply"),
                    kir.Store(OUT, ZERO, W))
    assert lines == ["out[_ix(0)] = ((x + y) * x)  # n2 multiply"]
    assert run(lines, out=np.zeros(1))["out"][0] == 10.0


def test_a_value_read_twice_keeps_its_line():
    lines = printed(kir.Let(V, kir.op("add", X, Y)), kir.Store(OUT, ZERO, kir.op("mul", V, V)))
    assert lines == ["v = (x + y)", "out[_ix(0)] = (v * v)"]


def test_a_load_is_not_moved_past_a_store():
    # v = a[0]; a[0] = 1; out[0] = v: written into the last store, v would read the new a[0]
    lines = printed(kir.Let(V, kir.Load(A, ZERO)), kir.Store(A, ZERO, kir.const(1.0, F)), kir.Store(OUT, ZERO, V))
    assert lines[0] == "v = a[_ix(0)]"
    assert run(lines, a=np.array([5.0]), out=np.zeros(1))["out"][0] == 5.0
    # without a load the store in between changes nothing, and the value is written into its reader
    assert printed(kir.Let(V, kir.op("add", X, Y)), kir.Store(A, ZERO, X), kir.Store(OUT, ZERO, V))[-1] == \
        "out[_ix(0)] = (x + y)"


def test_a_value_is_not_moved_past_a_new_value_of_a_variable_it_reads():
    lines = printed(kir.Let(V, kir.op("add", X, Y)), kir.Let(X, kir.const(0.0, F)), kir.Store(OUT, ZERO, V))
    assert lines[0] == "v = (x + y)"
    assert run(lines, out=np.zeros(1))["out"][0] == 5.0


def test_what_was_written_into_a_value_is_not_moved_past_a_store_or_a_new_value_either():
    # v = x + y is written into w = v * y: w then reads x, and a[0] through u = a[0] (found in review: a chain of
    # folds moved reads of the old values past the statements that replace them)
    u = kir.Var("u", F)
    lines = printed(kir.Let(V, kir.op("add", X, Y)), kir.Let(W, kir.op("mul", V, Y)), kir.Let(X, kir.const(0.0, F)),
                    kir.Store(OUT, ZERO, W))
    assert run(lines, out=np.zeros(1))["out"][0] == 15.0
    lines = printed(kir.Let(u, kir.Load(A, ZERO)), kir.Let(W, kir.op("mul", u, X)), kir.Store(A, ZERO, ONE_F),
                    kir.Store(OUT, ZERO, W))
    assert run(lines, a=np.array([5.0]), out=np.zeros(1))["out"][0] == 10.0


def test_a_negative_literal_is_the_whole_base_of_a_power():
    # Python reads -2.0 ** y as -(2.0 ** y)
    two = kir.const(2.0, F)
    lines = printed(kir.Store(OUT, ZERO, kir.op("pow", kir.const(-2.0, F), two)))
    assert run(lines, out=np.zeros(1))["out"][0] == 4.0
    lines = printed(kir.Let(V, kir.const(-2.0, F)), kir.Store(OUT, ZERO, kir.op("pow", V, two)))
    assert run(lines, out=np.zeros(1))["out"][0] == 4.0


def test_a_negative_constant_base_stays_a_real_power():
    # (-2.0) ** 0.5 is complex to Python's constant folder (Numba then refuses to type it); pow gives nan
    lines = printed(kir.Store(OUT, ZERO, kir.op("pow", kir.const(-2.0, F), kir.const(0.5, F))))
    with np.errstate(invalid="ignore"):
        assert np.isnan(run(lines, out=np.zeros(1))["out"][0])


def test_a_block_of_comments_only_is_still_a_block():
    i = kir.Var("i", "int64")
    lines = printed(kir.For(i, ZERO, ONE, (kir.Comment("nothing to do"),)), kir.Store(OUT, ZERO, X))
    assert run(lines, out=np.zeros(1))["out"][0] == 2.0


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_updates_read_the_values_before_the_call_through_written_in_values(backend):
    # u's new value exp(v) + sin(v) is one printed expression after v's store: it must read the old v
    v, u = sd.tensor("v", ("n",)), sd.tensor("u", ("n",))
    updates = {v: sd.exp(u), u: sd.exp(v) + sd.sin(v)}
    fn = sd.compile([v, u], [], updates=updates, backend=backend)
    v0, u0 = np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0])
    want = sd.evaluate(list(updates.values()), {v: v0, u: u0})
    fn(v0, u0)
    np.testing.assert_allclose(v0, want[0], rtol=1e-15)
    np.testing.assert_allclose(u0, want[1], rtol=1e-15)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_negative_constant_raised_to_a_power_is_computed_as_numpy_does(backend):
    x = sd.tensor("x", (2,))
    X = np.array([2.0, 3.0])
    np.testing.assert_array_equal(sd.compile([x], (-2.0) ** x, backend=backend)(X), (-2.0) ** X)


def test_a_value_stays_out_of_select_arms_and_nested_blocks():
    # an arm of Python's conditional expression runs under a branch; a nested block would recompute the value
    positive = kir.op("gt", X, kir.const(0.0, F))
    lines = printed(kir.Let(V, kir.op("mul", X, Y)), kir.Store(OUT, ZERO, kir.select(positive, V, Y)))
    assert lines[0] == "v = (x * y)"
    i = kir.Var("i", "int64")
    lines = printed(kir.Let(V, kir.op("mul", X, Y)), kir.For(i, ZERO, ONE, (kir.Store(OUT, i, V),)))
    assert lines[0] == "v = (x * y)"


def test_an_accumulator_keeps_its_lines():
    acc = kir.Var("acc", F)
    lines = printed(kir.Let(acc, kir.const(0.0, F)), kir.Let(acc, kir.op("add", acc, X)), kir.Store(OUT, ZERO, acc))
    assert lines == ["acc = 0.0", "acc = (acc + x)", "out[_ix(0)] = acc"]


def test_the_exported_module_describes_the_function(tmp_path):
    x, W = sd.tensor("x", ("batch", 3)), sd.tensor("W", (3, 4))
    loss = sd.sum(sd.tanh(x @ W) ** 2)
    step = sd.compile([x, W], [loss, x @ W], updates={W: W - 0.1 * sd.grad(loss, W)}, name="step")
    source = sd.export(step, tmp_path / "step.py").read_text()
    doc = source.split('"""')[1]
    assert f"step: a function compiled by symdiff {sd.__version__}." in doc
    assert "    x: float64 ('batch', 3)\n    W: float64 (3, 4), updated in place\n" in doc
    assert "Outputs:\n    [0] float64 ()\n    [1] float64 ('batch', 4)" in doc
    assert step.__doc__ == doc
    assert source.count("import numpy as np") == 1 and "__all__ = ['step']" in source
    assert source.count("@numba.extending.intrinsic") == 2  # the fast functions' bit cast and fused multiply-add
    # the tanh derivative of the backward loop reads as one expression of its exp, not a line per op
    assert "((4.0 * _v" in source
    # each workspace's size is one polynomial in the named dims, a term per set of dims
    sizes = [line for line in source.splitlines() if line.lstrip().startswith("_aligned(")]
    assert sizes and all(line.count("_d0") <= 1 for line in sizes)
