"""Every op-table row compiled against the NumPy reference: fused with values, gradients and second
derivatives; unfused (every node its own loop and array) with values and gradients; by the native
backend both ways and by Numba fused. All rows share one compiled function per mode, so the suite
compiles three times."""

import numpy as np
import pytest

import symdiff as sd
from tests.op_cases import CASES


def _row_outputs(case, second_order):
    nodes = case.tensors()
    out = case.build(*nodes)
    outputs = [out]
    floats = [n for n in nodes if n.dtype == "float64"]
    if case.smooth and floats:
        weights = np.random.default_rng(1).uniform(0.5, 1.5, size=[case.dims.get(d, 4) if isinstance(d, str) else d
                                                                   for d in out.shape])
        loss = sd.sum(out * sd.constant(weights))
        grads = sd.grad(loss, floats)
        outputs += grads
        if second_order:
            outputs += sd.grad(sd.add(0.0, sum(sd.sum(g * sd.cos(x)) for g, x in zip(grads, floats))), floats)
    return nodes, outputs


@pytest.fixture(scope="module", params=[(True, "native"), (False, "native"), (True, "numba")],
                ids=["fused", "unfused", "numba-fused"])
def compiled(request):
    fuse, backend = request.param
    rows = [(case, *_row_outputs(case, second_order=fuse)) for case in CASES]
    inputs = [n for _, nodes, _ in rows for n in nodes]
    outputs = [o for _, _, outs in rows for o in outs]
    fn = sd.compile(inputs, outputs, fuse=fuse, name="all_ops", backend=backend)
    assert fn.backend == backend  # every op lowers natively: no silent fallback
    feed = {}
    for case, nodes, _ in rows:
        feed.update(zip(nodes, case.values(seed=3)))
    results = fn(*[feed[n] for n in inputs])
    expected = sd.evaluate(outputs, feed)
    by_case, k = {}, 0
    for case, _, outs in rows:
        by_case[case.id] = (results[k:k + len(outs)], expected[k:k + len(outs)])
        k += len(outs)
    return by_case


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_compiled_matches_reference(compiled, case):
    got, want = compiled[case.id]
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
