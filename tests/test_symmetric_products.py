"""Symmetric products ``Bᵀ @ B``: the kernel-only rewrite of weighted gram products and their ``?syrk`` lowering."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symdiff as sd
from symdiff.rewrite import for_kernels, known_nonnegative, simplify


def _gram_operand(node: sd.Node) -> sd.Node | None:
    """B when ``node`` is ``Bᵀ @ B``."""
    a, b = node.inputs
    return b if node.op == "matmul" and a.op == "transpose" and a.inputs[0] is b else None


def test_weighted_gram_products_become_bt_b_only_with_nonnegative_row_weights():
    X, z = sd.tensor("X", ("n", 4)), sd.tensor("z", ("n",))
    s = sd.sigmoid(z)
    logistic = simplify((sd.transpose(X) * (s * (1.0 - s) / sd.count(z))) @ X)
    B = _gram_operand(for_kernels(logistic))
    assert B is not None and B.shape == X.shape
    # weights on the right-hand side, as a column
    assert _gram_operand(for_kernels(sd.transpose(X) @ (X * sd.reshape(sd.exp(z), ("n", 1))))) is not None
    # weights that can be negative, weights varying along the other axis, two different matrices: left alone
    for product in (sd.transpose(X) * sd.tanh(z)) @ X, (sd.transpose(X) * sd.exp(sd.tensor("c", (4, 1)))) @ X, \
            (sd.transpose(X) * sd.exp(z)) @ sd.tensor("Y", ("n", 4)):
        assert for_kernels(product) is product
    # the printed formula keeps the readable weighted form
    assert "√" not in sd.formula(logistic) and "sqrt" not in sd.formula(logistic)


def test_nonnegativity_facts_the_rewrite_relies_on():
    z = sd.tensor("z", (3,))
    assert known_nonnegative(1.0 - sd.sigmoid(z)) and known_nonnegative(sd.exp(z) / sd.count(z))
    assert not known_nonnegative(0.5 - sd.sigmoid(z))
    assert not known_nonnegative(sd.exp(z) / sd.constant(-0.0))  # x / -0.0 is -inf
    assert not known_nonnegative(sd.exp(z) / sd.tanh(z))


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_gram_products_match_the_reference_and_are_exactly_symmetric(backend, dtype, rtol):
    X, w, Y = sd.tensor("X", ("n", 40), dtype), sd.tensor("w", (40,), dtype), sd.tensor("Y", (30, "n"), dtype)
    s = sd.sigmoid(X @ w)
    outputs = [
        (sd.transpose(X) * (s * (1.0 - s) / 7.0)) @ X,  # rewritten to Bᵀ @ B, B = X ⊙ √v: ?syrk
        sd.transpose(X) @ X,  # a C-order operand
        Y @ sd.transpose(Y),  # Yᵀ is an F-order operand
        sd.transpose(X[:, ::2]) @ X[:, ::2],  # strides BLAS cannot take: the loop nest
    ]
    fn = sd.compile([X, w, Y], outputs, backend=backend)
    assert fn.source.count("    gram(") == 4
    r = np.random.default_rng(3)
    for rows in (0, 1, 3, 200):  # empty, below and above the size where BLAS takes over
        feed = {X: r.normal(size=(rows, 40)).astype(dtype), w: r.normal(size=40).astype(dtype),
                Y: r.normal(size=(30, rows)).astype(dtype)}
        for got, want in zip(fn(*feed.values()), sd.evaluate(outputs, feed)):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(want)))))
            np.testing.assert_array_equal(got, got.T)


def test_an_exported_gram_product_runs_without_symdiff(tmp_path):
    X = sd.tensor("X", ("n", 30))
    fn = sd.compile([X], sd.transpose(X) @ X, name="gram_matrix", backend="numba")
    sd.export(fn, tmp_path / "gram_module.py")
    np.save(tmp_path / "x.npy", np.random.default_rng(5).normal(size=(50, 30)))
    script = textwrap.dedent(f"""
        import sys
        sys.modules["symdiff"] = None  # the module must stand alone
        sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np
        import gram_module
        x = np.load({str(tmp_path / "x.npy")!r})
        np.save({str(tmp_path / "out.npy")!r}, gram_module.gram_matrix(x))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=600)
    x = np.load(tmp_path / "x.npy")
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), x.T @ x, rtol=1e-12)


def test_both_backends_agree_bit_for_bit_and_bind_the_same_blas():
    from symdiff.codegen import blas, blas_gram
    from symdiff.codegen.llvm import blas_symbols

    assert (blas.SMALL_MATMUL, blas.PANELED_OUTPUT, blas.PANEL_BYTES, blas.K_PANEL, blas_gram._TILE) == (
        blas_symbols.SMALL_MATMUL, blas_symbols.PANELED_OUTPUT, blas_symbols.PANEL_BYTES, blas_symbols.K_PANEL,
        blas_symbols.MIRROR_TILE)
    assert all(f'"{routine}"' in open(blas.__file__).read() for routine in blas_symbols.ROUTINES)
    X, w = sd.tensor("X", ("n", 40)), sd.tensor("w", (40,))
    hessian = sd.hessian(sd.mean(sd.softplus(X @ w)) + 0.5 * 1e-2 * sd.sum(w * w), w)
    fns = [sd.compile([X, w], hessian, backend=backend) for backend in ("native", "numba")]
    r = np.random.default_rng(6)
    for rows in (3, 300):
        x, v = r.normal(size=(rows, 40)), r.normal(size=40)
        np.testing.assert_array_equal(fns[0](x, v), fns[1](x, v))
