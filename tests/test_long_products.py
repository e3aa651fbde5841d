"""Products with a small output over a long inner dimension (a convolution's kernel gradient: 9 x 43264 x 32) run as
one ``?gemm`` call per panel of ``K_PANEL`` terms, the later ones accumulating into the output: every panel boundary,
a transposed and a plain left operand, on both backends (bit for bit alike) and against NumPy."""

import numpy as np
import pytest

import symdiff as sd
from symdiff.codegen.blas import K_PANEL, PANELED_OUTPUT


@pytest.fixture(scope="module", params=["float64", "float32"])
def products(request):
    dtype = request.param
    a = sd.tensor("a", ("k", 9), dtype=dtype)  # read transposed: the kernel gradient's layout
    c = sd.tensor("c", (9, "k"), dtype=dtype)
    b = sd.tensor("b", ("k", 32), dtype=dtype)
    wide = sd.tensor("wide", ("k", 17), dtype=dtype)  # 9 x 17 ... and 32 x 17 = 544 > PANELED_OUTPUT: one call
    assert 9 * 32 <= PANELED_OUTPUT < 32 * 17
    outputs = [sd.transpose(a) @ b, c @ b, sd.transpose(b) @ wide]
    inputs = [a, c, b, wide]
    return dtype, inputs, outputs, [sd.compile(inputs, outputs, backend=bk) for bk in ("native", "numba")]


@pytest.mark.parametrize("k", [K_PANEL - 1, K_PANEL, K_PANEL + 1, 3 * K_PANEL + 5])
def test_panels_of_a_long_inner_dimension_sum_to_the_product(products, k):
    dtype, inputs, outputs, (native, numba) = products
    r = np.random.default_rng(k)
    values = [r.normal(size=(k, 9)), r.normal(size=(9, k)), r.normal(size=(k, 32)), r.normal(size=(k, 17))]
    values = [v.astype(dtype) for v in values]
    got, again = native(*values), numba(*values)
    a, c, b, wide = (v.astype(np.float64) for v in values)
    rtol = 1e-4 if dtype == "float32" else 1e-11
    for g, h, want in zip(got, again, (a.T @ b, c @ b, b.T @ wide)):
        np.testing.assert_array_equal(g, h)
        np.testing.assert_allclose(g, want, rtol=rtol, atol=rtol * np.sqrt(k))
