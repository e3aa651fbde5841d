"""The second-order gradient check the nn tests share, and a test that it catches a wrong Hessian."""

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

import symdiff as sd


def _value(feed: Mapping, node: sd.Node):
    return feed[node] if node in feed else feed[node.name]


def check_second_order(y: sd.Node, wrt: Sequence[sd.Node], feed: Mapping, *, seed: int = 0, **tolerances):
    """check_grad of the directional derivative ``sum(grad(y, w) * u_w)`` for fixed random directions u_w.

    The directions are fed as extra inputs shaped like each ``w``, so named dims work.
    """
    rng = np.random.default_rng(seed)
    grads = sd.grad(y, list(wrt))
    directions = {sd.tensor(f"{w.name}_direction", w.shape): rng.uniform(0.5, 1.5, size=np.shape(_value(feed, w)))
                  for w in wrt}
    terms = [sd.sum(g * u) for g, u in zip(grads, directions)]
    directional = sd.add(0.0, sum(terms[1:], terms[0]))
    return sd.check_grad(directional, list(wrt), {**feed, **directions}, **tolerances)


def test_second_order_check_catches_a_gradient_that_is_right_only_to_first_order():
    x = sd.tensor("x", (3,))
    # Value x**3 and gradient 3 x**2, but the gradient graph hides its dependence on x.
    cube = sd.stop_gradient(x**3 - 3.0 * x * x**2) + 3.0 * x * sd.stop_gradient(x**2)
    feed = {x: np.array([0.5, -1.2, 2.0])}
    sd.check_grad(sd.sum(cube), [x], feed)
    with pytest.raises(sd.GradientCheckError):
        check_second_order(sd.sum(cube), [x], feed)
    check_second_order(sd.sum(x**3), [x], feed)
