"""Ops computed as a graph of other ops (``kernel=("expand", build)``: tanh's derivative, max_of, user-made
modules) are computed inline by the loop that needs them. Nodes are interned, so the expansion's nodes can be the
graph's own nodes (tanh's derivative builds abs(x); the loss may hold abs(x) too), which the schedule may compute
later: the loop must compute them, not read their arrays (found by the differential suite: it read a slot another
value still held)."""

import numpy as np
import pytest

import symdiff as sd


def _graph(fused_reader: bool):
    x, q, P = sd.tensor("x", ("batch", 3)), sd.tensor("q", (3,)), sd.tensor("P", (3, 3))
    power = sd.power(0.5 + sd.sigmoid(x), sd.tanh(q))  # q's gradient reads tanh's derivative at q
    # abs(q) is also a node of the loss; read by a product it has an array even when loops are fused
    other = sd.sum(sd.abs(q) @ P) if fused_reader else sd.sum(sd.square(sd.abs(q)))
    loss = sd.sum(sd.square(power)) + other
    return [x, q, P], [power], {q: q - 0.1 * sd.grad(loss, q)}


@pytest.mark.parametrize("backend", ["native", "numba"])
@pytest.mark.parametrize("fuse, fused_reader", [(False, False), (True, True), (False, True)])
def test_an_expansion_computes_the_nodes_it_shares_with_the_graph(backend, fuse, fused_reader):
    inputs, outputs, updates = _graph(fused_reader)
    fn = sd.compile(inputs, outputs, updates, backend=backend, fuse=fuse)
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((2, 3)), rng.standard_normal(3), rng.standard_normal((3, 3))]
    want = sd.evaluate(outputs + list(updates.values()), dict(zip(inputs, values)))
    got = fn(*values)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-14)
    np.testing.assert_allclose(values[1], want[1], rtol=1e-14)
