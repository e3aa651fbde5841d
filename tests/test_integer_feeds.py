"""Integer values fed to integer inputs: converted only when exact, in sd.evaluate and in compiled calls alike
(an unchecked cast wrapped Python ints out of range around: a silent wrong number)."""

import numpy as np
import pytest

import symdiff as sd

BACKENDS = ["native", "numba"]
INT32 = r"outside the range of int32, \[-2147483648, 2147483647\]; pass values in range or make the input int64"
INT64 = r"outside the range of int64, \[-9223372036854775808, 9223372036854775807\]"


def _runs(x, backend):
    """sd.evaluate and a compiled call of the sum of ``x`` as int64, each a function of ``x``'s value."""
    total = sd.sum(x.astype("int64"))
    return [lambda value: sd.evaluate(total, {x: value}), sd.compile([x], total, backend=backend)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype, shape, value, match", [
    ("int32", (2,), [2**32 + 5, 1], "4294967301 is " + INT32),  # was 6
    ("int32", (), 2**31, "2147483648 is " + INT32),  # was -2147483648
    ("int32", (), np.int64(2**40), "1099511627776 is " + INT32),  # a NumPy scalar is a value, not an array: was 0
    ("int64", (1,), [2**63 + 5], "9223372036854775813 is " + INT64),  # was -9223372036854775803
    ("int64", (3,), [2**63, 1, 2], "9223372036854775808 is " + INT64),  # was "expected int64 values, got float64"
    ("int64", (), -2**64, "-18446744073709551616 is " + INT64),  # was "expected int64 values, got object"
])
def test_ints_out_of_range_are_refused_naming_the_input_range_and_value(backend, dtype, shape, value, match):
    x = sd.tensor("x", shape, dtype)
    evaluate, call = _runs(x, backend)
    with pytest.raises(sd.FeedError, match="input 'x': " + match):
        evaluate(value)
    with pytest.raises(OverflowError, match="argument 'x': " + match):
        call(value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_values_convert_and_other_dtypes_stay_refused(backend):
    for run in _runs(sd.tensor("x", (3,), "int32"), backend):
        assert run([2**31 - 1, -2**31, True]) == 0
        assert run((np.int64(2), np.uint64(3), 4)) == 9  # NumPy integer scalars in range convert
        with pytest.raises((TypeError, sd.FeedError), match="'x': expected dtype int32, got an array of dtype int64"):
            run(np.array([1, 2, 3]))  # an array keeps its dtype: converting is the caller's choice
        with pytest.raises((TypeError, sd.FeedError), match="'x': expected int32 values, got float64"):
            run([1.0, 2.5, 3.0])
    for run in _runs(sd.tensor("x", (2,), "int64"), backend):  # NumPy makes floats of int64 with uint64 values
        assert run([np.int64(2**62 + 1), np.uint64(1)]) == 2**62 + 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_python_int_too_large_for_a_float_input_is_refused_naming_it(backend):
    # the native entry raised a bare "OverflowError: int too large to convert to float"
    x, s = sd.tensor("x", (2,)), sd.scalar("s")
    fn = sd.compile([x, s], x * s, backend=backend)
    with pytest.raises(TypeError, match="argument 's': expected float64 values, got object"):
        fn(np.ones(2), 2**1100)
    assert fn(np.ones(2), 2**100).tolist() == [2.0**100] * 2
