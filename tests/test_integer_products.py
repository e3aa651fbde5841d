"""Integer and bool ``@`` are NumPy's: exact products in NumPy's result dtype (int32 and int64 wrap as NumPy's,
bool is "any a_ik and b_kj"), in the reference evaluator and compiled on both backends; float64 lost them."""

import numpy as np
import pytest

import symdiff as sd

R = np.random.default_rng(0)
VALUES = {"bool": R.random((2, 3, 4)) < 0.3, "int32": R.integers(-2**31, 2**31, (2, 3, 4)).astype(np.int32),
          "int64": R.integers(-2**62, 2**62, (2, 3, 4))}
VALUES["int64"][0, 0, :2] = [2**53 + 1, 1]  # through float64: 2^53 + 2
# (left dtype, right dtype, left shape, right shape): batched, a matrix, a vector on either side, mixed dtypes
CASES = [("int64", "int64", (2, 3, 4), (2, 4, 3)), ("int32", "int32", (3, 4), (4, 3)), ("bool", "bool", (2, 3, 4), (4,)),
         ("bool", "int32", (4,), (2, 4, 3)), ("int32", "int64", (3, 4), (2, 4, 3))]
INPUTS = {dtype: sd.tensor(f"x_{dtype}", (2, 3, 4), dtype) for dtype in VALUES}


def _operand(dtype, shape, values):
    """The entries of ``shape`` from the input of ``dtype`` (a slice, transposed to make the inner dims meet)."""
    full = {(2, 3, 4): lambda x: x, (2, 4, 3): lambda x: np.swapaxes(x, -1, -2), (3, 4): lambda x: x[0],
            (4, 3): lambda x: x[0].T, (4,): lambda x: x[0, 0]}[shape]
    return full(values[dtype] if values is not None else INPUTS[dtype])


def _built():
    return [(_operand(a, sa, None) @ _operand(b, sb, None), _operand(a, sa, VALUES) @ _operand(b, sb, VALUES))
            for a, b, sa, sb in CASES]


def test_evaluated_integer_products_are_numpys():
    for node, want in _built():
        got = sd.evaluate(node, {INPUTS[d]: v for d, v in VALUES.items()})
        assert node.dtype == got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_compiled_integer_products_are_numpys(backend):
    built = _built()
    fn = sd.compile(list(INPUTS.values()), [node for node, _ in built], backend=backend)
    for got, (_, want) in zip(fn(*VALUES.values()), built):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
