"""Updates and outputs are computed from the values before the call (issue 12, points 1-4): row-fused
reductions of an updated parameter, updates that read other updated parameters (views included), outputs
that are updated parameters, and arguments that share memory."""

import numpy as np
import pytest

import symdiff as sd

BACKENDS = ["native", "numba"]


def _check_step(inputs, outputs, updates, values, backend, **options):
    """Compile and call once; every output and every updated parameter equals sd.evaluate's from the values before."""
    feed = dict(zip(inputs, values))
    targets = list(updates)
    want = sd.evaluate(list(outputs) + [updates[t] for t in targets], feed)
    fn = sd.compile(inputs, list(outputs), updates, backend=backend, **options)
    args = [v.copy() for v in values]
    got = fn(*args) or ()
    for g, w in zip(got, want[:len(outputs)]):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    for t, w in zip(targets, want[len(outputs):]):
        np.testing.assert_allclose(args[next(k for k, n in enumerate(inputs) if n is t)], w, rtol=1e-12, atol=1e-14, err_msg=t.name)
    for node, before, after in zip(inputs, values, args):
        if all(node is not t for t in targets):
            np.testing.assert_array_equal(after, before, err_msg=f"{node.name} is not updated but changed")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fuse", [True, False])
def test_row_fused_softmax_of_the_updated_parameter(backend, fuse):
    P = sd.tensor("P", shape=(4, 5))
    T = sd.tensor("T", shape=(4, 5))
    loss = sd.sum((sd.softmax(P, axis=-1) - T) ** 2)
    r = np.random.default_rng(0)
    _check_step([T, P], [loss], {P: P - 0.5 * sd.grad(loss, P)}, [r.random((4, 5)), r.standard_normal((4, 5))],
                backend, fuse=fuse)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", ["chain", "swap", "transpose", "reshape", "self-transpose", "cross"])
def test_updates_read_the_values_before_the_step(backend, case):
    A, B = sd.tensor("A", (3, 3)), sd.tensor("B", (3, 3))
    updates = {
        "chain": {A: B, B: B + 1},
        "swap": {A: B, B: A},
        "transpose": {A: B.T, B: B * 2.0},
        "reshape": {A: sd.reshape(sd.reshape(B, (9,)) + 0.0, (3, 3)) * 1.0, B: B - 3.0},
        "self-transpose": {A: A.T, B: B[::-1, :] * 1.0},
        "cross": {A: A + B, B: B * A},
    }[case]
    r = np.random.default_rng(1)
    _check_step([A, B], [], updates, [r.standard_normal((3, 3)), r.standard_normal((3, 3))], backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("simplify", [True, False])
def test_outputs_are_values_before_the_step(backend, simplify):
    P, x = sd.tensor("P", (2, 3)), sd.tensor("x", (3,))
    outputs = [P, P.T, sd.reshape(P, (6,)), P * 1.0, P + 0.0, sd.sum(P * x), P[1]]
    r = np.random.default_rng(2)
    _check_step([P, x], outputs, {P: P - 0.1 * x}, [r.standard_normal((2, 3)), r.standard_normal(3)], backend,
                simplify=simplify)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scalar_parameter_output_and_update(backend):
    s, v = sd.tensor("s", ()), sd.tensor("v", (3,))
    _check_step([s, v], [s, s * 2.0], {s: s + sd.sum(v), v: v * s}, [np.array(1.5), np.arange(3.0)], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_arguments_sharing_memory_with_an_updated_parameter_are_refused(backend):
    A, B, x = sd.tensor("A", (4,)), sd.tensor("B", (4,)), sd.tensor("x", (4,))
    fn = sd.compile([x, A, B], sd.sum(x), {A: A + x, B: B * 2.0}, backend=backend)
    w, v = np.ones(4), np.arange(8.0)
    with pytest.raises(ValueError, match="'A'.*'B'|'B'.*'A'"):
        fn(np.zeros(4), w, w)
    with pytest.raises(ValueError, match="'x'.*'A'|'A'.*'x'"):
        fn(w, w, np.ones(4))
    with pytest.raises(ValueError, match="'A'.*'B'|'B'.*'A'"):
        fn(np.zeros(4), v[:4], v[2:6])  # overlapping views of one buffer
    np.testing.assert_array_equal(w, np.ones(4))  # refused before anything was written
    before = v.copy()
    fn(np.ones(4), v[:4], v[4:])  # disjoint halves of one buffer are fine
    np.testing.assert_array_equal(v, np.concatenate([before[:4] + 1, before[4:] * 2]))


def test_an_update_that_would_truncate_its_parameter_is_refused():
    # an int64 parameter updated with a float value was truncated in place at every call (k + 0.5 never grew)
    x, k = sd.tensor("x", (3,)), sd.tensor("k", (3,), "int64")
    with pytest.raises(TypeError, match=r"'k'.*float64.*int64"):
        sd.compile([x, k], sd.sum(x), updates={k: k + 0.5 * x})
    with pytest.raises(TypeError, match=r"'flag'.*int64.*bool"):
        flag = sd.tensor("flag", (3,), "bool")
        sd.compile([x, flag], sd.sum(x), updates={flag: sd.cast(x, "int64")})
    # a cast within a kind or to a wider kind is what NumPy's in-place operators do too: allowed
    w = sd.tensor("w", (3,), "float32")
    fn = sd.compile([x, w, k], sd.sum(x), updates={w: w - 0.5 * x, k: k + sd.cast(x > 0, "int32")})
    wv, kv = np.ones(3, np.float32), np.array([1, 2, 3])
    fn(np.array([1.0, -1.0, 2.0]), wv, kv)
    np.testing.assert_array_equal(wv, np.array([0.5, 1.5, 0.0], np.float32))
    np.testing.assert_array_equal(kv, [2, 2, 4])
