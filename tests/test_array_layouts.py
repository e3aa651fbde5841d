"""Arrays whose memory Numba's dispatcher types alike: unaligned ones work and byteswapped ones are refused on both
backends, whichever comes first (Numba's type cache keys arrays by dtype, rank, layout and writeability only)."""

import numpy as np
import pytest

import symdiff as sd


def _unaligned(shape):
    """Zeros of float64 in C order one byte past an aligned address."""
    return np.zeros(8 * int(np.prod(shape)) + 1, np.uint8)[1:].view(np.float64).reshape(shape)


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("unaligned_first", [True, False])
def test_unaligned_arrays_work_and_byteswapped_ones_are_refused_in_any_order(backend, unaligned_first):
    # a rank of its own per order: the cache is the process's, and the first such array of a rank decides
    shape = (2, 3, 1) if unaligned_first else (2, 3, 1, 1)
    x, w = sd.tensor("x", shape), sd.tensor("w", shape)
    fn = sd.compile([x, w], sd.sum(sd.exp(x) * w), {w: w + x}, backend=backend)
    swapped = np.ones(shape).astype(">f8")
    for run in ["unaligned", "swapped", "unaligned"] if unaligned_first else ["swapped", "unaligned", "swapped"]:
        if run == "swapped":  # after an unaligned array, Numba read it as native: exp(3e-318) summed to 6, no error
            with pytest.raises(TypeError, match="'x': expected dtype float64, got an array of dtype >f8"):
                fn(swapped, np.ones(shape))
            continue
        x_value, w_value = _unaligned(shape), _unaligned(shape)  # after a byteswapped one, Numba refused them
        x_value[:] = 1.0
        assert fn(x_value, w_value) == 0.0
        np.testing.assert_array_equal(w_value, 1.0)  # an unaligned array is updated in place too
