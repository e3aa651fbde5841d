"""sd.cumsum is NumPy's: each entry its prefix added in order (an inf or a nan spoils only the entries from it on;
integers stay exact, bool and int32 add up in int64), in the reference evaluator and compiled on both backends.
Its derivatives are checked by the op table's row (tests/op_cases.py)."""

import numpy as np
import pytest

import symdiff as sd

VALUES = {"float64": np.array([[1.0, 2.0, np.inf, 1.0], [1.0, np.nan, 2.0, -np.inf], [np.inf, -np.inf, 1.0, 0.5]]),
          "int64": np.array([[2**53 + 1, 2, 3, 4], [-7, 2**62, 2**62, 1], [0, 1, 2, 3]]),  # float64 sums: 2^53 + 2
          "int32": np.array([[2**31 - 1, 1, 5, -2], [-2**31, -1, 0, 3], [7, 8, 9, 10]], np.int32),
          "bool": np.array([[True, False, True, True], [False, False, True, False], [True] * 4]),
          "float32": np.array([[0.1, 0.2, 0.3, 1e8], [1.0, -1.0, 2.5, 3.5], [1e-3, 1e3, -1e3, 1.0]], np.float32)}
INPUTS = {dtype: sd.tensor(f"x_{dtype}", (3, 4), dtype) for dtype in VALUES}
AXES = [None, 0, 1, -1]


def _numpys(values, axis):
    if values.dtype == np.float32:  # a float64 carry, each entry rounded once (NumPy's float32 total drifts)
        return np.cumsum(values, axis, np.float64).astype(np.float32)
    with np.errstate(invalid="ignore"):  # inf + -inf: the nan the test expects
        return np.cumsum(values, axis)


def _built():
    return [(sd.cumsum(INPUTS[dtype], axis), _numpys(values, axis)) for dtype, values in VALUES.items() for axis in AXES]


def _check(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_evaluated_running_sums_are_numpys():
    for node, want in _built():
        _check(sd.evaluate(node, {n: VALUES[d] for d, n in INPUTS.items()}), want)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_compiled_running_sums_are_numpys(backend):
    rows = sd.tensor("rows", ("batch", 4))  # a named dim in the carry
    built = _built() + [(sd.cumsum(rows, axis=1), _numpys(VALUES["float64"], 1))]
    fn = sd.compile([*INPUTS.values(), rows], [node for node, _ in built], backend=backend)
    for got, (_, want) in zip(fn(*VALUES.values(), VALUES["float64"]), built):
        _check(got, want)


def test_numpy_calls_and_methods_build_the_loop():
    x = sd.tensor("x", (3, 4), "int32")
    values = VALUES["int32"]
    for node, want in [(np.cumsum(x, 0), np.cumsum(values, 0)), (x.cumsum(1), values.cumsum(1)),
                       (np.cumsum(x, None, np.float64), np.cumsum(values, None, np.float64))]:
        _check(sd.evaluate(node, {x: values}), want)
