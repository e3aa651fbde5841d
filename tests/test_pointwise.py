"""The pointwise LLVM backend (codegen.pointwise): every elementwise op against the reference evaluator,
IEEE special values, threads, and clear refusals of graphs it cannot run."""

import re

import numpy as np
import pytest

import symdiff as sd
from symdiff.codegen import pointwise
from symdiff.codegen.pointwise import PointwiseGraphError, PointwiseKernel
from symdiff.ops import OPS

X, Y, Z = (sd.tensor(name, ("points",)) for name in "xyz")
COLUMNS = [X, Y, Z]
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-300, -1e-310, 700.0, -800.0, 40.0, np.inf, -np.inf,
                    np.nan])


def _build(op: str) -> sd.Node:
    """A graph exercising ``op`` once (comparisons feed a ``where`` so the output is float)."""
    if op in ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"):
        return sd.where(getattr(sd, op)(X, Y), X, Z)
    if op == "where":
        return sd.where(X > 0.5, Y, Z)
    if op == "max_of":
        return sd.max_of(X, Y, Z)
    if op == "cast":
        return sd.cast(sd.cast(X, "bool"), "float64") + Y
    if op == "broadcast_to":
        return sd.broadcast_to(sd.constant(2.0), ("points",)) * X
    if op == "stop_gradient":
        return sd.stop_gradient(X) * Y
    if op == "tanh_grad":  # built by tanh's derivative only
        return sd.grad(sd.sum(sd.tanh(X) * Y), X)
    builder = getattr(sd, op)
    binary = ("add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2")
    return builder(X, Y) if op in binary else builder(X)


ELEMENTWISE = sorted(name for name, op in OPS.items() if op.kind == "elementwise")


def _points(n: int = 64) -> np.ndarray:
    """(N, 3) points: pairs of IEEE special values, then random ones."""
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(SPECIAL, SPECIAL[::3], indexing="ij"), 0).reshape(2, -1)
    special = np.vstack([grid, np.resize(SPECIAL, grid.shape[1])])
    return np.hstack([special, rng.uniform(-3, 3, size=(3, n))]).T


def _reference(outputs, points):
    with np.errstate(all="ignore"):
        wants = sd.evaluate(outputs, dict(zip(COLUMNS, points.T)))
    return [np.broadcast_to(w, points.shape[:1]) for w in wants]


def _assert_matches(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-14, atol=1e-300)
    zeros = finite & (want == 0)
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


@pytest.mark.parametrize("op", ELEMENTWISE)
def test_every_elementwise_op_matches_the_reference(op):
    node = _build(op)
    assert op in {n.op for n in sd.ir.toposort([node])}
    points = _points()
    (got,) = PointwiseKernel(COLUMNS, [node])(points)
    _assert_matches(got[:, 0], _reference([node], points)[0])


def test_power_special_exponents_round_like_the_numba_backend():
    outputs = [X ** 2.0, X ** 3.0, X ** 0.5, X ** -1.0, X ** -2.0, X ** -0.5, X ** 1.7, X ** Y]
    points = _points()
    (got,) = PointwiseKernel(COLUMNS, outputs)(points)
    for g, w in zip(got.T, _reference(outputs, points)):
        _assert_matches(g, w)


def test_derivatives_and_constant_outputs_in_one_kernel():
    f = sd.tanh(X * Y) * sd.exp(-Z) + sd.log1p(X * X)
    grads = sd.grad(sd.sum(f), COLUMNS)
    outputs = [f, *grads, *sd.grad(sd.sum(grads[0]), COLUMNS), sd.constant(3.0), sd.constant(0.0)]
    points = np.random.default_rng(1).normal(size=(50, 3))
    # a layout may repeat an output (a Hessian's mirror entries) and split outputs over arrays
    layout = [[0, 3, 3], [1, 2, 4, 5, 6, 7, 8]]
    first, second = PointwiseKernel(COLUMNS, outputs, layout)(points)
    assert first.shape == (50, 3) and second.shape == (50, 7)
    want = _reference(outputs, points)
    np.testing.assert_allclose(first, np.stack([want[k] for k in layout[0]], 1), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(second, np.stack([want[k] for k in layout[1]], 1), rtol=1e-13, atol=1e-15)


def test_threads_split_the_points_without_changing_a_bit():
    kernel = PointwiseKernel(COLUMNS, [sd.tanh(X) * Y + sd.exp(Z)])
    points = np.random.default_rng(2).normal(size=(20_001, 3))
    (one,) = kernel(points, threads=1)
    np.testing.assert_array_equal(kernel(points, threads=2)[0], one)
    np.testing.assert_array_equal(kernel(points, threads=7)[0], one)
    assert kernel(np.empty((0, 3)))[0].shape == (0, 1)


def test_graphs_it_cannot_run_are_refused_by_name():
    with pytest.raises(PointwiseGraphError, match="'sum'"):
        PointwiseKernel(COLUMNS, [sd.sum(X) * Y])
    with pytest.raises(PointwiseGraphError, match="int64"):
        PointwiseKernel(COLUMNS, [sd.cast(X, "int64")])
    with pytest.raises(PointwiseGraphError, match="'w', not in inputs"):
        PointwiseKernel(COLUMNS, [X * sd.tensor("w", ("points",))])
    kernel = PointwiseKernel(COLUMNS, [X + Y])
    with pytest.raises(ValueError, match=r"\(N, 3\), got \(5, 2\)"):
        kernel(np.zeros((5, 2)))


def test_graphs_split_into_bounded_parts_compute_the_same_bits():
    # Parts pass values (including a bool) through the scratch tile; 300 points cross a tile boundary.
    h = sd.where(X > Y, sd.tanh(X * Y), sd.exp(-Z))
    outputs = [h, *sd.grad(sd.sum(h * h + sd.sin(X)), COLUMNS)]
    points = np.random.default_rng(3).normal(size=(300, 3))
    (whole,) = PointwiseKernel(COLUMNS, outputs)(points)
    split = PointwiseKernel(COLUMNS, outputs, part_nodes=3)
    assert split.slots > 0 and len(re.findall(r"define internal .*@\"?\w*_part\d", split.llvm_ir)) > 3
    np.testing.assert_array_equal(split(points)[0], whole)
    # fewer points than a SIMD step, and tails: the last N % LANES points run through a padded copy
    for n in (1, 2, 3, pointwise.LANES + 1, 2 * pointwise.LANES - 1):
        np.testing.assert_array_equal(split(points[:n])[0], whole[:n])


def test_machine_code_is_cached_on_disk_and_a_damaged_entry_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path))
    outputs = [sd.tanh(X * Y) + Z, sd.exp(X) * Y]
    points = np.random.default_rng(5).normal(size=(37, 3))
    first = PointwiseKernel(COLUMNS, outputs)
    again = PointwiseKernel(COLUMNS, outputs)
    assert not first.cache_hit and again.cache_hit
    np.testing.assert_array_equal(again(points)[0], first(points)[0])
    (obj,) = tmp_path.glob("*/*/pointwise.o")
    obj.write_bytes(obj.read_bytes()[:-7])  # truncated: fails its digest, rebuilt instead of loaded
    rebuilt = PointwiseKernel(COLUMNS, outputs)
    assert not rebuilt.cache_hit
    np.testing.assert_array_equal(rebuilt(points)[0], first(points)[0])
