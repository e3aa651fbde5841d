"""Compiled float32 sums accumulate in float64 (codegen/wide_sums.py): a running float32 total stops growing at
2^24 when it adds ones, where NumPy's pairwise sum (the reference) stays within a few ulps."""

import numpy as np
import pytest

import symdiff as sd
from symdiff.parallel import SplitCall

N = 2**24 + 8  # ones summed in a float32 total: 2^24


def _check(fn, outputs, feed):
    for got, want in zip(fn(*feed.values()), sd.evaluate(outputs, feed)):
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-7)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_long_float32_sums_means_and_variances_match_numpy(backend):
    x = sd.tensor("x", ("n",), "float32")
    outputs = [sd.sum(x), sd.mean(x), sd.var(x)]  # a running float32 total: [2^24, 0.49999988, 0.24999994]
    _check(sd.compile([x], outputs, backend=backend), outputs, {x: np.ones(2**25 + 10, np.float32)})


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_float32_sums_into_arrays_add_up_in_float64(backend):
    columns, row = sd.tensor("columns", ("rows", 1), "float32"), sd.tensor("row", (1, N), "float32")
    shifted = sd.exp(columns - 1.0)  # stored: two loops read it, so its column sum joins the loop computing it
    outputs = [sd.sum(columns, axis=0),  # an array accumulator over the batch
               sd.sum(shifted, axis=0), sd.max(shifted, axis=0),
               sd.sum(sd.exp(row - sd.max(row, axis=1, keepdims=True)), axis=1)]  # a row group's pass
    fn = sd.compile([columns, row], outputs, backend=backend, threads=1)
    ones = np.ones(N, np.float32)
    _check(fn, outputs, {columns: ones.reshape(N, 1), row: ones.reshape(1, N)})


def test_the_shards_of_a_split_call_add_their_float64_totals():
    x = sd.tensor("x", ("rows",), "float32")
    fn = sd.compile([x], sd.sum(x), threads=2)
    assert isinstance(fn._call, SplitCall)
    values = np.random.default_rng(1).random(1000, dtype=np.float32)
    assert fn(values) == np.float32(np.sum(values.astype(np.float64)))  # the shards' float32 totals: 1 ulp off


def test_a_float32_sum_of_squares_is_within_float32_rounding_of_the_exact_sum():
    x = sd.tensor("x", ("n",), "float32")
    r = np.random.default_rng(0).random(10**6, dtype=np.float32)
    exact = np.sum(r.astype(np.float64) ** 2)
    got = sd.compile([x], sd.sum(x * x))(r)
    assert abs(got - exact) <= 2 * np.spacing(np.float32(exact))  # a float32 total: 3.4e-4 relative error
