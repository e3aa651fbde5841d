"""``sd.scan`` (issue 16 point 4): values against independent NumPy loops, gradients against the unrolled graph and
central differences, second order (grad of grad, HVP, Hessian, forward mode), compiled kernels on both backends
against the reference, and the graph size not growing with the sequence length."""

import re

import numpy as np
import pytest

import symdiff as sd
from tests.test_differential import assert_same
from tests.test_nn_checks import check_second_order
from tests.test_small_products import computes_a_product_inline

R = np.random.default_rng(0)
T, B, D, H = 4, 3, 2, 3


def _rnn_inputs(time=T):
    x = sd.tensor("x", (time, "batch", D))
    W, U, h0 = sd.tensor("W", (D, H)), sd.tensor("U", (H, H)), sd.tensor("h0", ("batch", H))
    values = {x: R.standard_normal((T if isinstance(time, str) else time, B, D)), W: R.standard_normal((D, H)),
              U: 0.5 * R.standard_normal((H, H)), h0: R.standard_normal((B, H))}
    return (x, W, U, h0), values


def _elman(x, W, U, h0):
    return sd.scan(lambda h, x_t: sd.tanh(x_t @ W + h @ U), h0, x)


def _elman_numpy(x, W, U, h0):
    h, out = h0, []
    for x_t in x:
        h = np.tanh(x_t @ W + h @ U)
        out.append(h)
    return np.stack(out)


def _loss(hs, last=None):
    return sd.sum((hs[-1] if last is None else last) ** 2) + sd.mean(sd.sin(hs))


def test_values_match_a_numpy_loop_and_the_last_state_is_the_last_row():
    (x, W, U, h0), feed = _rnn_inputs()
    hs = _elman(x, W, U, h0)
    assert hs.shape == (T, "batch", H)
    want = _elman_numpy(*(feed[n] for n in (x, W, U, h0)))
    np.testing.assert_allclose(sd.evaluate(hs, feed), want, rtol=1e-14)
    np.testing.assert_allclose(sd.evaluate(hs[-1], feed), want[-1], rtol=1e-14)


def test_gradients_equal_the_unrolled_graphs_and_central_differences():
    (x, W, U, h0), feed = _rnn_inputs()
    h, states = h0, []
    for t in range(T):
        h = sd.tanh(x[t] @ W + h @ U)
        states.append(h)
    unrolled = _loss(sd.stack(states))
    looped = _loss(_elman(x, W, U, h0))
    wrt = [x, W, U, h0]
    for got, want in zip(sd.evaluate(sd.grad(looped, wrt), feed), sd.evaluate(sd.grad(unrolled, wrt), feed)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    sd.check_grad(looped, wrt, feed)
    check_second_order(looped, [W, U, h0], feed)


def test_graph_size_does_not_grow_with_the_length():
    sizes = []
    for time in (4, 40, "time"):
        (x, W, U, h0), _ = _rnn_inputs(time)
        last = sd.scan(lambda h, x_t, W=W, U=U: sd.tanh(x_t @ W + h @ U), h0, x, keep="last")
        loss = _loss(_elman(x, W, U, h0), last)
        gradient = sd.grad(loss, [W, U])
        sizes.append((sd.count_nodes(loss), sd.count_nodes(gradient),
                      sd.count_nodes(sd.grad(sd.sum(gradient[1] * gradient[1]), U))))
    assert sizes[0] == sizes[1] == sizes[2]


def test_second_order_hessian_hvp_and_forward_mode_agree():
    (x, W, U, h0), feed = _rnn_inputs()
    loss = _loss(_elman(x, W, U, h0))
    v = R.standard_normal((H, H))
    hv = sd.evaluate(sd.hvp(loss, U, sd.constant(v)), feed)
    hessian = sd.evaluate(sd.hessian(loss, U), feed)
    np.testing.assert_allclose(hessian.reshape(H * H, H * H) @ v.ravel(), hv.ravel(), rtol=1e-10, atol=1e-12)
    gradient = sd.grad(loss, U)
    eps = 1e-5
    plus, minus = (sd.evaluate(gradient, {**feed, U: feed[U] + s * eps * v}) for s in (1, -1))
    np.testing.assert_allclose(hv, (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-8)
    # forward mode is the transpose of reverse mode: <J u, 1> = <u, grad>
    directional = sd.evaluate(sd.jvp(loss, U, sd.constant(v)), feed)
    np.testing.assert_allclose(directional, np.sum(sd.evaluate(gradient, feed) * v), rtol=1e-12)
    a = sd.scalar("a")  # a one-element parameter: grad takes the forward-mode path
    scaled = sd.sum(sd.scan(lambda h, x_t: sd.tanh(a * (x_t @ W) + h @ U), h0, x))
    sd.check_grad(scaled, [a], {**feed, a: 0.7})


def _lstm_like(x, W, h0, c0, reverse=False):
    def step(carry, x_t):
        h, c = carry
        z = sd.concatenate([x_t, h], axis=1) @ W
        c = sd.sigmoid(z[:, :H]) * c + sd.sigmoid(z[:, H:2 * H]) * sd.tanh(z[:, 2 * H:3 * H])
        return sd.sigmoid(z[:, 3 * H:]) * sd.tanh(c), c
    return sd.scan(step, (h0, c0), x, reverse=reverse)


def _lstm_like_numpy(x, W, h0, c0, reverse=False):
    def sigmoid(v):
        return 1 / (1 + np.exp(-v))
    h, c, hs, cs = h0, c0, [None] * len(x), [None] * len(x)
    for t in (range(len(x) - 1, -1, -1) if reverse else range(len(x))):
        z = np.concatenate([x[t], h], axis=1) @ W
        c = sigmoid(z[:, :H]) * c + sigmoid(z[:, H:2 * H]) * np.tanh(z[:, 2 * H:3 * H])
        h = sigmoid(z[:, 3 * H:]) * np.tanh(c)
        hs[t], cs[t] = h, c
    return np.stack(hs), np.stack(cs)


@pytest.mark.parametrize("reverse", [False, True])
def test_tuple_carries_and_reverse_loops(reverse):
    (x, _, _, h0), feed = _rnn_inputs()
    W, c0 = sd.tensor("W4", (D + H, 4 * H)), sd.tensor("c0", ("batch", H))
    feed.update({W: 0.5 * R.standard_normal((D + H, 4 * H)), c0: R.standard_normal((B, H))})
    hs, cs = _lstm_like(x, W, h0, c0, reverse)
    want = _lstm_like_numpy(feed[x], feed[W], feed[h0], feed[c0], reverse)
    for got, expected in zip(sd.evaluate([hs, cs], feed), want):
        np.testing.assert_allclose(got, expected, rtol=1e-13)
    loss = sd.sum(hs * cs) + sd.sum(cs[0] ** 2)
    sd.check_grad(loss, [W, h0, c0, x], feed)
    check_second_order(loss, [W, c0], feed)


def test_loops_without_sequences_and_nested_loops():
    a = sd.tensor("a", (2,))
    powers = sd.scan(lambda p: p * a, sd.ones((2,)), length=3)  # a, a**2, a**3
    feed = {a: np.array([0.5, -2.0])}
    np.testing.assert_allclose(sd.evaluate(powers, feed), feed[a] ** np.arange(1, 4)[:, None], rtol=1e-15)
    xs = sd.tensor("xs", (3, 2))

    def outer(total, x_t):  # each step adds a running product computed by an inner loop
        inner = sd.scan(lambda p, y: p * y + total + y, total, x_t)
        return total + inner[-1] * a
    nested = sd.scan(outer, sd.zeros((2,)), xs)
    values = {a: feed[a], xs: R.standard_normal((3, 2))}

    def outer_numpy(xs_value, a_value):
        total, out = np.zeros(2), []
        for x_t in xs_value:
            p = total
            for y in x_t:
                p = p * y + total + y
            total = total + p * a_value
            out.append(total)
        return np.stack(out)
    np.testing.assert_allclose(sd.evaluate(nested, values), outer_numpy(values[xs], values[a]), rtol=1e-13)
    sd.check_grad(sd.sum(nested ** 2), [a, xs], values)
    check_second_order(sd.sum(nested ** 2), [a], values)


def _compiled_cases():
    (x, W, U, h0), feed = _rnn_inputs()
    loss = _loss(_elman(x, W, U, h0))
    grads = sd.grad(loss, [W, U, h0, x])
    hv = sd.hvp(loss, U, sd.constant(R.standard_normal((H, H))))
    return [x, W, U, h0], [loss, _elman(x, W, U, h0)] + grads + [hv], feed


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("fuse", [True, False])
def test_compiled_loops_compute_what_evaluate_computes(backend, fuse):
    inputs, outputs, feed = _compiled_cases()
    fn = sd.compile(inputs, outputs, backend=backend, fuse=fuse)
    for batch in (B, 1, 0):
        values = {k: (v[:, :batch] if k.name == "x" else v[:batch] if k.name == "h0" else v) for k, v in feed.items()}
        got = fn(*(values[k] for k in inputs))
        for k, (g, w) in enumerate(zip(got, sd.evaluate(outputs, values))):
            assert_same(g, w, 1e-12, f"output {k} at batch {batch}")


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_compiled_tuple_reverse_nested_and_float32_loops(backend):
    (x, _, _, h0), feed = _rnn_inputs()
    W, c0 = sd.tensor("W4", (D + H, 4 * H)), sd.tensor("c0", ("batch", H))
    feed.update({W: 0.5 * R.standard_normal((D + H, 4 * H)), c0: R.standard_normal((B, H))})
    hs, cs = _lstm_like(x, W, h0, c0, reverse=True)
    loss = sd.sum(hs * cs)
    outputs = [hs, cs, *sd.grad(loss, [W, c0])]
    inputs = [x, W, h0, c0]
    got = sd.compile(inputs, outputs, backend=backend)(*(feed[k] for k in inputs))
    for g, w in zip(got, sd.evaluate(outputs, feed)):
        assert_same(g, w, 1e-12, "lstm-like")
    a, xs = sd.tensor("a", (2,), "float32"), sd.tensor("xs", ("time", 2), "float32")
    nested = sd.scan(lambda total, x_t: total + sd.scan(lambda p, y: p * a + y, x_t, x_t)[-1],
                     sd.zeros((2,), "float32"), xs)
    outputs = [nested, sd.grad(sd.sum(sd.tanh(nested)), a)]
    values = {a: np.array([0.5, -1.5], np.float32), xs: R.standard_normal((5, 2)).astype(np.float32)}
    got = sd.compile([a, xs], outputs, backend=backend)(values[a], values[xs])
    for g, w in zip(got, sd.evaluate(outputs, values)):
        assert_same(g, w, 2e-5, "nested float32")


def test_bad_loops_are_named():
    x, h0 = sd.tensor("x", (4, 2)), sd.tensor("h0", (2,))
    with pytest.raises(sd.ShapeError, match="disagree on their length"):
        sd.scan(lambda h, a, b: h, h0, (x, sd.tensor("y", (5, 2))))
    with pytest.raises(sd.ShapeError, match=r"shape \(3,\) for carry 0, whose shape is \(2,\)"):
        sd.scan(lambda h, x_t: sd.concatenate([h, x_t[:1]]), h0, x)
    with pytest.raises(TypeError, match="dtype float32 for carry 0"):
        sd.scan(lambda h, x_t: sd.cast(h, "float32"), h0, x)
    with pytest.raises(TypeError, match="tuple of 2 carries"):
        sd.scan(lambda c, x_t: c[0], (h0, h0), x)
    with pytest.raises(ValueError, match="length must be an int"):
        sd.scan(lambda h: h, h0)
    with pytest.raises(sd.ShapeError, match="0-d"):
        sd.scan(lambda h, s: h, h0, sd.scalar("s"))
    # a step ignoring its sequence leaves a loop over a named length: the compiled function needs an input with it
    ignored = sd.scan(lambda h, x_t: sd.tanh(h), h0, sd.tensor("xs", ("time", 2)), keep="last")
    with pytest.raises(ValueError, match=r"named dim 'time' of <scan .*not a dim of any input"):
        sd.compile([h0], ignored)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_loops_differing_only_in_their_body_are_different_kernels(backend):
    # the kernel cache keys on the graph's structure: a body is part of it (once, two bodies of the same shapes
    # shared one cached kernel)
    x, h0 = sd.tensor("x", (3, "batch", 2)), sd.tensor("h0", ("batch", 2))
    values = {x: R.standard_normal((3, 2, 2)), h0: R.standard_normal((2, 2))}
    for combine in (sd.add, sd.multiply, sd.subtract):  # bodies tanh(h ? x_t): the same root, shapes and dtype
        hs = sd.scan(lambda h, x_t, combine=combine: sd.tanh(combine(h, x_t)), h0, x)
        got = sd.compile([x, h0], hs, backend=backend)(values[x], values[h0])
        np.testing.assert_allclose(got, sd.evaluate(hs, values), rtol=1e-13)


def test_every_node_a_loop_body_reads_through_lives_until_the_kernel_is_built(monkeypatch):
    # Array refs are found by node identity. A loop's leaves (its sequences' rows, the values it reads) are made
    # while its code is emitted; one that died mid-compilation handed its id to a node of a later loop, which then
    # read the dead leaf's array (a row at the old loop's step variable): wrong numbers from Numba, "read before any
    # assignment" natively, now and then, as memory happened to be reused (found by the differential soak and CI).
    import weakref

    from symdiff.codegen import module
    from symdiff.codegen.context import Context
    bound_leaves = []

    def recording_nested(self, plan, bound):
        bound_leaves.extend(weakref.ref(leaf) for leaf, _ in bound)
        return real_nested(self, plan, bound)

    def checked_plan_memory(*args, **kwargs):
        assert bound_leaves and all(ref() is not None for ref in bound_leaves), "a loop leaf died mid-compilation"
        return real_plan_memory(*args, **kwargs)

    real_nested, real_plan_memory = Context.nested, module.plan_memory
    monkeypatch.setattr(Context, "nested", recording_nested)
    monkeypatch.setattr(module, "plan_memory", checked_plan_memory)
    inputs, outputs, _ = _compiled_cases()
    module.generate(inputs, outputs, [], name="f")


def test_a_derivative_through_a_loop_built_twice_is_the_same_graph():
    # the placeholders a loop's derivative is traced on are named from what they stand for, not numbered in order:
    # a numbered name changed the simplified graph's operand order (so the compiled kernel missed the cache) from
    # one build to the next
    def build():
        (x, W, U, h0), _ = _rnn_inputs()
        loss = _loss(_elman(x, W, U, h0))
        return [sd.grad(loss, U), sd.hvp(loss, U, sd.constant(np.eye(H)))]

    first = build()
    xs = sd.tensor("xs", (3, 2))
    sd.grad(sd.sum(sd.scan(lambda c, x_t: c * x_t, sd.ones((2,)), xs)), xs)  # other loops traced in between
    second = build()
    assert [sd.formula(n) for n in first] == [sd.formula(n) for n in second]


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_derivative_loop_that_reads_no_sequence_runs_for_a_named_length(backend):
    # the derivative of a step whose own derivative is constant reads none of the forward loop's stacked values:
    # its loop has no sequence left to take the length from, only the named dim (found by the differential soak:
    # the reference evaluator got the string 'batch' as the number of steps)
    x, q = sd.tensor("x", ("batch", 3)), sd.tensor("q", (3,))
    last = sd.scan(lambda c, x_t: -(c + x_t) + 0.5 * sd.tanh(q), x, x, keep="last")
    loss = sd.sum(last ** 2)
    feed = {x: R.standard_normal((4, 3)), q: R.standard_normal(3)}
    gradients = sd.grad(loss, [q, x])
    sd.check_grad(loss, [q, x], feed)
    fn = sd.compile([x, q], gradients, backend=backend)
    for got, want in zip(fn(feed[x], feed[q]), sd.evaluate(gradients, feed)):
        assert_same(got, want, 1e-12, "gradient")


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("reverse", [False, True])
def test_carries_that_swap_repeat_or_ignore_the_old_ones_at_every_length(backend, reverse):
    # each carry has two buffers that alternate by step, and the body computes the new carries and the values the
    # derivative loop reads in place: a body that swaps two carries, returns one value as two carries and one value
    # that reads no carry, over lengths of both parities (the last carries are in the buffer the length picks)
    w, xs = sd.tensor("w", (2,)), sd.tensor("xs", ("time", 2))
    init = tuple(sd.tensor(name, (2,)) for name in ("a", "b", "c", "d"))

    def step(carry, x_t):
        a, b, _, _ = carry
        new = sd.tanh(a * w + x_t)
        return b, new, new, w * 2.0

    last = sd.scan(step, init, xs, reverse=reverse, keep="last")
    loss = sum(sd.sum(v * v) for v in last)
    outputs = [*last, *sd.grad(loss, [w, *init, xs])]
    inputs = [w, xs, *init]
    fn = sd.compile(inputs, outputs, backend=backend)
    for length in range(5):
        feed = {k: R.standard_normal((length, 2) if k is xs else (2,)) for k in inputs}
        got = fn(*(feed[k] for k in inputs))
        for k, (g, want) in enumerate(zip(got, sd.evaluate(outputs, feed))):
            assert_same(g, want, 1e-12, f"output {k} at length {length}")


def _both_backends_compute_what_evaluate_computes(inputs: list, outputs: list, values: dict) -> None:
    for backend in ("native", "numba"):
        got = sd.compile(inputs, outputs, backend=backend)(*(values[i] for i in inputs))
        for number, (g, want) in enumerate(zip(got, sd.evaluate(outputs, values))):
            assert_same(g, want, 1e-12, f"{backend} output {number}")


def _step_loops(source: str) -> list[list[str]]:
    """The bodies of the step loops (``for _t<k> in range``) of a printed kernel, as lines."""
    lines, loops = source.splitlines(), []

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip()) if line.strip() else 1 << 30  # a blank line stays inside

    for k, line in enumerate(lines):
        if line.lstrip().startswith("for _t"):
            body = []
            for inner in lines[k + 1:]:
                if indent(inner) <= indent(line):
                    break
                body.append(inner)
            loops.append(body)
    return loops


def test_a_step_copies_neither_its_carries_nor_the_values_it_keeps_for_the_derivative():
    # a loop that returns its last carry, and its derivative loop (which reads the forward's stored pre-activations
    # and returns its accumulated gradients), write every value where it is read next: no copy statement in a step
    (x, W, U, h0), _ = _rnn_inputs()
    last = sd.scan(lambda h, x_t: sd.tanh(x_t @ W + h @ U), h0, x, keep="last")
    loss = sd.sum(last ** 2)
    forward = sd.compile([x, W, U, h0], last, backend="numba").source
    backward = sd.compile([x, W, U, h0], sd.grad(loss, [W, U]), backend="numba").source
    loops = _step_loops(forward) + _step_loops(backward)
    copy = re.compile(r"\w+\[_ix\([^=]*\)\] = \w+\[_ix\([^=]*\)\]")  # an element stored as loaded: a copy
    copies = [sum(bool(copy.fullmatch(line.strip())) for line in body) for body in loops]
    # the gradient's forward loop stores h before and after each step (returned rows, which stay copies)
    assert copies == [0, 2, 0]


def test_a_weight_gradient_is_one_product_after_the_loop_not_a_sum_in_every_step():
    # backpropagation through time sums hᵀ·dz over the steps: the loop stores the per-step factors (or finds them
    # stored already) and one matrix product over all steps and rows follows it, as cuDNN does; the step loop keeps
    # only the product the next step needs (dh = dz·Uᵀ)
    (x, W, U, h0), feed = _rnn_inputs()
    loss = _loss(_elman(x, W, U, h0))
    grad_w, grad_u = sd.grad(loss, [W, U])
    assert grad_u.op == "sum" and grad_u.inputs[0].op == "matmul"
    assert not any(n.op == "scan" and n.attr("mode") == "final" for n in sd.toposort([grad_u]))
    source = sd.compile([x, W, U, h0], [grad_w, grad_u], backend="numba").source
    backward = _step_loops(source)[-1]
    # one product per step: a BLAS call, or (H = 3 terms per entry) computed by the step's loop
    assert sum("gemm(" in line or computes_a_product_inline(line) for line in backward) == 1
    gru = sd.nn.GRU(D, H)  # a recurrent bias and a product of a gate's cotangent: stored per step, summed after
    sequences = sd.tensor("xs", ("batch", T, D))
    params = list(gru.parameters.values())
    gradient = sd.grad(sd.sum(gru(sequences, training=True) ** 2), params)
    assert [g.op for g in gradient] == ["reshape", "sum", "reshape", "reshape"]  # no accumulator of the loop
    values = {sequences: R.standard_normal((B, T, D)), **{p: 0.5 * R.standard_normal(p.shape) for p in params}}
    sd.check_grad(sd.sum(gru(sequences, training=True) ** 2), params, values)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_sequence_cotangent_is_computed_straight_into_its_row(backend):
    # the derivative loop of a layer whose input projection is outside the loop returns the projection's cotangent
    # at every step (the input weights' gradient multiplies it after the loop): the body computes it into the
    # step's row of the returned sequence, with no carry buffer and no copy per step
    rnn = sd.nn.SimpleRNN(D, H)
    xs = sd.tensor("xs", ("batch", T, D))
    params = list(rnn.parameters.values())
    loss = sd.sum(rnn(xs, training=True) ** 2)
    gradient = sd.grad(loss, params)
    fn = sd.compile([xs, *params], gradient, backend=backend)
    backward = _step_loops(fn.source)[-1]
    assert sum(line.strip() == "_p = 0" for line in backward) == 0
    feed = {xs: R.standard_normal((B, T, D)), **{p: 0.5 * R.standard_normal(p.shape) for p in params}}
    for got, want in zip(fn(*feed.values()), sd.evaluate(gradient, feed)):
        assert_same(got, want, 1e-12, "gradient")


def _gemm_strides(line: str) -> tuple[str, str]:
    """The column strides (``acs``, ``bcs``) of a printed ``gemm(a, ao, ars, acs, b, bo, brs, bcs, ...)`` call."""
    args = [a.strip() for a in line.strip()[len("gemm("):-1].split(",")]
    return args[3], args[7]


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_a_transposed_outside_value_is_copied_in_c_order_once_before_the_loop(backend):
    # backpropagation through time multiplies each step's cotangent by Uᵀ, a transposed view of U: BLAS runs a
    # product over a transposed operand ~1.7x slower at these sizes (packing, threads), so the loop reads a copy
    # of Uᵀ in C order made once before it, and every step's product has unit column strides
    hidden, features = 64, 3
    x, W, U = sd.tensor("x", (T, "batch", features)), sd.tensor("W", (features, hidden)), sd.tensor("U", (hidden, hidden))
    h0 = sd.tensor("h0", ("batch", hidden))
    loss = _loss(sd.scan(lambda h, x_t: sd.tanh(x_t @ W + h @ U), h0, x))
    gradient = sd.grad(loss, [W, U, h0])
    fn = sd.compile([x, W, U, h0], gradient, backend=backend)
    backward = _step_loops(fn.source)[-1]
    products = [_gemm_strides(line) for line in backward if line.strip().startswith("gemm(")]
    assert products == [("np.int64(1)", "np.int64(1)")]
    feed = {x: R.standard_normal((T, B, features)), W: R.standard_normal((features, hidden)),
            U: 0.1 * R.standard_normal((hidden, hidden)), h0: R.standard_normal((B, hidden))}
    for got, want in zip(fn(*feed.values()), sd.evaluate(gradient, feed)):
        assert_same(got, want, 1e-12, "gradient")


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_loops_over_views_in_another_layout_reshape_and_multiply_their_elements(backend):
    # Regressions (found in review): a loop over the time-major view of batch-major data read its elements as if
    # each were in C order: a reshape of the element, and batch-summed products of it or of a transposed outside
    # value, were silently wrong
    steps, rows, k, m = 3, 4, 2, 5
    data, Z = sd.tensor("data", (rows, steps, k, m)), sd.tensor("Z", (k, rows, m))
    c0, c1 = sd.tensor("c0", (m, m)), sd.tensor("c1", (rows * k * m,))
    X = sd.transpose(data, (1, 0, 2, 3))
    outputs = [
        sd.scan(lambda c, x_t: c + sd.reshape(x_t, (rows * k * m,)), c1, X),
        sd.scan(lambda c, x_t: c + sd.sum(sd.swapaxes(x_t, -1, -2) @ sd.cos(x_t), axis=0), c0, X),
        sd.scan(lambda c, x_t: c + sd.sum(sd.cos(sd.swapaxes(x_t, -1, -2)) @ x_t, axis=0), c0, X),
        sd.scan(lambda c, x_t: c + sd.sum(sd.swapaxes(sd.tanh(x_t), -1, -2) @ sd.transpose(Z, (1, 0, 2)), axis=0),
                c0, X),
    ]
    inputs = [data, Z, c0, c1]
    fn = sd.compile(inputs, outputs, backend=backend)
    feed = {data: R.standard_normal((rows, steps, k, m)), Z: R.standard_normal((k, rows, m)),
            c0: R.standard_normal((m, m)), c1: R.standard_normal(rows * k * m)}
    for number, (got, want) in enumerate(zip(fn(*(feed[i] for i in inputs)), sd.evaluate(outputs, feed))):
        assert_same(got, want, 1e-12, f"output {number}")


def test_a_loop_of_loops_keeps_the_accumulator_of_an_inner_weight_gradient():
    # the inner loop's gradient of W is a batch sum of products; summing it after the outer loop would store the
    # whole batch of products at every outer step, so the outer derivative loop accumulates it (found in review)
    outer, inner, batch, d, h = 3, 2, 2, 2, 3
    W, U = sd.tensor("W", (d, h)), sd.tensor("U", (h, h))
    xs, h0 = sd.tensor("xs", (outer, inner, batch, d)), sd.tensor("h0", (batch, h))

    def outer_step(state, sequence):
        last = sd.scan(lambda c, x_t: sd.tanh(x_t @ W + c @ U), state, sequence, keep="last")
        return sd.tanh(last @ sd.transpose(U))

    loss = sd.sum(sd.sin(sd.scan(outer_step, h0, xs)))
    gradient = sd.grad(loss, [W, U])
    stored = [n.shape for n in sd.toposort(gradient) if n.op == "scan" and n.attr("mode") == "residual"]
    assert (outer, inner, d, h) not in stored and (outer, inner, h, h) not in stored
    feed = {xs: R.standard_normal((outer, inner, batch, d)), h0: R.standard_normal((batch, h)),
            W: R.standard_normal((d, h)), U: 0.5 * R.standard_normal((h, h))}
    sd.check_grad(loss, [W, U], feed)


@pytest.mark.parametrize("both_halves", [False, True])
def test_the_forward_loop_stores_the_slices_the_derivative_reads_not_the_whole_array(both_halves):
    # an LSTM's derivative reads the cell-gate quarter of the pre-activations (tanh's derivative) and the other
    # gates' outputs: storing the whole pre-activation row at every step wrote 4x what is read. A row whose slices
    # read cover all of it is stored once, whole, rather than slice by slice
    (x, W, U, h0), feed = _rnn_inputs()
    W2, U2 = sd.tensor("W2", (D, 2 * H)), sd.tensor("U2", (H, 2 * H))

    def step(h, x_t):
        z = x_t @ W2 + h @ U2
        gate = sd.sigmoid(z[:, :H]) if not both_halves else sd.tanh(z[:, :H])
        return gate * sd.tanh(z[:, H:]) + 0.5 * h

    loss = _loss(sd.scan(step, h0, x))
    gradient = sd.grad(loss, [W2, U2, h0])
    stored = {(n.shape[-1], n.attr("output").op) for n in sd.toposort(gradient)
              if n.op == "scan" and n.attr("mode") == "residual" and not n.attr("reverse")}  # the forward loop's
    # the gates' outputs (for the product's derivative), and what tanh's derivative reads: its pre-activation
    assert stored == ({(H, "tanh"), (2 * H, "add")} if both_halves else {(H, "sigmoid"), (H, "tanh"), (H, "slice")})
    values = {**feed, W2: R.standard_normal((D, 2 * H)), U2: 0.5 * R.standard_normal((H, 2 * H))}
    sd.check_grad(loss, [W2, U2, h0], values)
    inputs = [x, W2, U2, h0]
    _both_backends_compute_what_evaluate_computes(inputs, gradient, values)


def test_a_value_computed_from_a_new_carry_is_stored_by_the_forward_loop_not_computed_again():
    # an LSTM's h = o * tanh(c): the derivative reads tanh(c) of the new cell state; the backward loop computed it
    # again from the stored c at every step (a transcendental per element) where the forward loop had it in hand.
    # A cheap value of the new carry (here -c, tanh's argument) is computed again, not stored
    (x, W, U, h0), feed = _rnn_inputs()
    c0 = sd.tensor("c0", ("batch", H))

    def cell(carries, x_t):
        c, h = carries
        c = sd.sigmoid(x_t @ W) * c + 0.5 * sd.sigmoid(h @ U)
        return c, sd.sigmoid(h @ U + 1.0) * sd.tanh(-c)

    _, hs = sd.scan(cell, (c0, h0), x)
    loss = _loss(hs)
    inputs, values = [x, W, U, h0, c0], {**feed, c0: R.standard_normal((B, H))}
    gradient = sd.grad(loss, [W, U, h0, c0])
    stored = [n.attr("output").op for n in sd.toposort(gradient) if n.op == "scan" and n.attr("mode") == "residual"]
    assert "tanh" in stored and "negative" not in stored
    source = sd.compile(inputs, gradient, backend="numba").source
    backward = _step_loops(source)[-1]
    assert not any("tanh" in line for line in backward), "\n".join(backward)
    sd.check_grad(loss, [W, U, h0, c0], values)
    _both_backends_compute_what_evaluate_computes(inputs, gradient, values)


def test_a_new_carry_that_is_a_view_is_stored_once():
    # the new carry is a slice of the step's row and another carry reads it: the forward loop stores it as the
    # carry after each step, not a second time as a residual slice (found by review)
    (x, W, U, h0), feed = _rnn_inputs()
    W2, U2, s0 = sd.tensor("W2", (D, 2 * H)), sd.tensor("U2", (H, 2 * H)), sd.tensor("s0", ("batch", H))

    def step(carries, x_t):
        h, s = carries
        h = (x_t @ W2 + h @ U2)[:, :H]
        return h, s * sd.cos(h) + h

    hs, ss = sd.scan(step, (h0, s0), x)
    loss = _loss(ss) + sd.sum(hs ** 3)
    gradient = sd.grad(loss, [W2, U2, h0, s0])
    stored = [n.attr("output").op for n in sd.toposort(gradient)
              if n.op == "scan" and n.attr("mode") == "residual" and not n.attr("reverse")]
    assert stored == ["cos"]
    values = {**feed, W2: 0.5 * R.standard_normal((D, 2 * H)), U2: 0.5 * R.standard_normal((H, 2 * H)),
              s0: R.standard_normal((B, H))}
    sd.check_grad(loss, [W2, U2, h0, s0], values)
    _both_backends_compute_what_evaluate_computes([x, W2, U2, h0, s0], gradient, values)
