"""sum and prod follow NumPy's dtypes: bool and int32 add and multiply in int64 (int32 wrapped at 2^31), in the
reference evaluator and compiled on both backends."""

import numpy as np
import pytest

import symdiff as sd

VALUES = {"bool": np.array([[True, True, False], [True, True, True]]),
          "int32": np.array([[2**31 - 1, 1, 3], [-2**31, -1, 2**16]], np.int32),
          "int64": np.array([[2**62, 2**62, -1], [3, -5, 7]]),
          "float32": np.array([[1.5, -2.0, 0.25], [3.0, 0.5, -1.0]], np.float32)}
INPUTS = {dtype: sd.tensor(f"x_{dtype}", (2, 3), dtype) for dtype in VALUES}
REDUCTIONS = {"sum": (sd.sum, np.sum), "prod": (sd.prod, np.prod)}
AXES = [None, 1, (), (0, 1)]


def _cases():
    return [(name, dtype, axis) for name in REDUCTIONS for dtype in VALUES for axis in AXES]


def _build(name, dtype, axis):
    ours, numpy = REDUCTIONS[name]
    return ours(INPUTS[dtype], axis=axis), numpy(VALUES[dtype], axis=axis)


@pytest.mark.parametrize("case", _cases(), ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_evaluated_values_and_dtypes_are_numpys(case):
    node, want = _build(*case)
    got = sd.evaluate(node, {INPUTS[case[1]]: VALUES[case[1]]})
    assert node.dtype == got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_compiled_values_and_dtypes_are_numpys(backend):
    built = [_build(*case) for case in _cases()]
    fn = sd.compile(list(INPUTS.values()), [node for node, _ in built], backend=backend)
    for (node, want), got in zip(built, fn(*VALUES.values())):
        assert got.dtype == want.dtype, node
        np.testing.assert_array_equal(got, want)


def test_the_product_over_an_empty_axis_is_one():
    x = sd.tensor("x", (2, 0), "int32")  # it raised an IndexError building the product of no factors
    got = sd.evaluate(sd.prod(x, axis=1), {x: np.zeros((2, 0), np.int32)})
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [1, 1])
