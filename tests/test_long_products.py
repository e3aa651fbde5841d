"""Products with a small output over a long inner dimension (a convolution's kernel gradient: 9 x 43264 x 32, an
RNN's weight gradients: 64 x 1600 x 64) run as one ``?gemm`` call per panel of min(``K_PANEL``, ``PANEL_BYTES`` / the
output's bytes) terms, the later ones accumulating into the output: every panel boundary, a transposed and a plain
left operand, on both backends (bit for bit alike) and against NumPy."""

import numpy as np
import pytest

import symdiff as sd
from symdiff.codegen.blas import K_PANEL, PANEL_BYTES, PANELED_OUTPUT


@pytest.fixture(scope="module", params=["float64", "float32"])
def products(request):
    dtype = request.param
    a = sd.tensor("a", ("k", 9), dtype=dtype)  # read transposed: the kernel gradient's layout
    c = sd.tensor("c", (9, "k"), dtype=dtype)
    b = sd.tensor("b", ("k", 32), dtype=dtype)
    wide = sd.tensor("wide", ("k", 130), dtype=dtype)  # 32 x 130 outputs take more than PANELED_OUTPUT bytes: one call
    assert 32 * 130 * 4 > PANELED_OUTPUT
    outputs = [sd.transpose(a) @ b, c @ b, sd.transpose(b) @ wide]
    inputs = [a, c, b, wide]
    return dtype, inputs, outputs, [sd.compile(inputs, outputs, backend=bk) for bk in ("native", "numba")]


def panel(dtype: str) -> int:
    """Terms per call of the 9 x 32 products (910 in float64, 1820 in float32)."""
    return min(K_PANEL, PANEL_BYTES // (9 * 32 * np.dtype(dtype).itemsize))


@pytest.mark.parametrize("panels", [(1, -1), (1, 0), (1, 1), (3, 5)])
def test_panels_of_a_long_inner_dimension_sum_to_the_product(products, panels):
    dtype, inputs, outputs, (native, numba) = products
    k = panels[0] * panel(dtype) + panels[1]
    r = np.random.default_rng(k)
    values = [r.normal(size=(k, 9)), r.normal(size=(9, k)), r.normal(size=(k, 32)), r.normal(size=(k, 130))]
    values = [v.astype(dtype) for v in values]
    got, again = native(*values), numba(*values)
    a, c, b, wide = (v.astype(np.float64) for v in values)
    rtol = 1e-4 if dtype == "float32" else 1e-11
    for g, h, want in zip(got, again, (a.T @ b, c @ b, b.T @ wide)):
        np.testing.assert_array_equal(g, h)
        np.testing.assert_allclose(g, want, rtol=rtol, atol=rtol * np.sqrt(k))
