"""Taylor mode: the coefficients ``f(x), f'(x), f''(x)/2!, ..., f⁽ᴷ⁾(x)/K!`` of a graph in one forward walk.

A node's series is the node itself (order 0) and a tensor ``R`` of shape ``(K,) + node.shape`` holding orders
1..K, built from its inputs' series by one of four rules:

* ops whose tangent does not change with their differentiable inputs (linear ones, and piecewise-linear ones
  such as ``abs``, ``maximum``, ``where``, ``max``; found by differentiating the op's JVP template) apply that JVP
  to ``R``: all K orders at once, as forward mode pushes a batch of directions;
* products (``multiply``, ``matmul`` of two operands that depend on ``x``) are Cauchy products (per entry, a row
  times a Toeplitz matrix);
* ``exp``, ``sin``, ``cos``, ``tan``, ``tanh``, ``sigmoid`` and powers with a constant exponent run their
  recurrence (from ``f' = h·u'``: ``k f_k = Σ_j j u_j h_(k-j)``) in a :func:`~symdiff.autodiff.scan.scan` over
  the orders: O(K²) work in a loop, O(1) nodes;
* other one-input functions integrate the series of their derivative (``log``: ``1/u``, ``erf``: ``exp(-u²)``
  times a constant, ...), which the same walk builds.

So the graph grows by a few nodes per node of ``f``, whatever ``K``; the 10th derivative of a deep composition is
built in milliseconds, where repeated symbolic differentiation builds and simplifies every order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np

from ..ir import FLOAT_DTYPES, Node, broadcast_shapes, depends_on, toposort
from ..ops import (
    OPS,
    broadcast_to,
    concatenate,
    constant,
    cos,
    exp,
    expand_dims,
    log,
    make,
    matmul,
    multiply,
    ones,
    power,
    reshape,
    sin,
    squeeze,
    subtract,
    transpose,
    zeros,
)
from ..ops import sum as total
from .forward import _instantiate, _signature, _template, jvp, tangent_graph
from .scan import scan


def taylor(f: Node, x: Node, order: int) -> Node:
    """The Taylor coefficients of ``f`` in ``x``: ``c[k] = f⁽ᵏ⁾(x) / k!`` for ``k = 0..order``, stacked along a new
    leading axis (shape ``(order + 1,) + f.shape``), in one pass whose graph does not grow with ``order``.

    ``x`` is a scalar, or a tensor ``f`` is elementwise in (as for :func:`~symdiff.autodiff.higher.derivative`).
    ``sd.derivative(f, x, n, mode="taylor")`` is ``n! * taylor(f, x, n)[n]``. Ops without a Taylor rule (loops)
    raise NotImplementedError naming the op; use ``sd.derivative`` there.
    """
    from .higher import check_derivative_arguments

    check_derivative_arguments("taylor", f, x, order)
    if order == 0:
        return expand_dims(f, 0)
    walk = _Walk(order, x.dtype)
    seed = np.zeros((order,) + (1,) * x.ndim)
    seed[:1] = 1.0
    walk.series[id(x)] = walk.const(seed) * ones(x.shape, x.dtype)
    walk.extend(f)
    return walk.full(f)


class _Walk:
    """Series of the nodes walked so far (``id -> R``, None when orders >= 1 vanish) for one order and dtype."""

    def __init__(self, order: int, dtype: str) -> None:
        self.K, self.dtype = order, dtype
        self.series: dict[int, Node | None] = {}
        self.walked: list[Node] = []  # keeps the keys' nodes alive (graphs built on the way are otherwise temporary)

    def const(self, values: np.ndarray) -> Node:
        return constant(np.asarray(values, dtype=self.dtype))

    def extend(self, f: Node) -> Node | None:
        """Walk ``f``'s graph; returns ``f``'s ``R``."""
        order = toposort([f])
        live = depends_on(order, [n for n in order if self.series.get(id(n)) is not None])
        for node in order:
            if id(node) in self.series:
                continue
            self.walked.append(node)
            if id(node) not in live or node.dtype not in FLOAT_DTYPES or not node.inputs:
                self.series[id(node)] = None
                continue
            ins = [self.series.get(id(i)) if i.dtype in FLOAT_DTYPES else None for i in node.inputs]
            self.series[id(node)] = None if all(r is None for r in ins) else self.rule(node, ins)
        return self.series[id(f)]

    def full(self, node: Node) -> Node:
        """Orders 0..K of ``node``: shape ``(K + 1,) + node.shape``."""
        rest = self.series.get(id(node))
        first = expand_dims(node, 0)
        if rest is None:
            return concatenate([first, zeros((self.K,) + node.shape, node.dtype)], axis=0)
        return concatenate([first, rest], axis=0)

    def column(self, values: Sequence[float] | np.ndarray, node: Node) -> Node:
        """``values`` (one per order) as a constant shaped to broadcast against a series of ``node``."""
        return self.const(np.reshape(values, (-1,) + (1,) * node.ndim))

    # -- rules ----------------------------------------------------------------------------------------

    def rule(self, node: Node, ins: list[Node | None]) -> Node | None:
        op, live = node.op, [r is not None for r in ins]
        if op in RECURRENCES:
            return RECURRENCES[op](self, node, *node.inputs)
        if op in EQUIVALENTS:
            return self.extend(EQUIVALENTS[op](*node.inputs))
        if op == "power":
            return self.power(node, live)
        if op == "divide" and live[1]:
            return self.extend(multiply(node.inputs[0], power(node.inputs[1], -1.0)))
        if op in ("multiply", "matmul") and all(live):
            return self.product(node)
        if OPS[op].jvp is not None:
            raise NotImplementedError(f"sd.taylor: no Taylor rule for op {op!r} (a loop); use sd.derivative")
        template = _template(op, node.attrs, (node.shape, node.dtype), tuple(_signature(i) for i in node.inputs),
                             tuple(live), (self.K,))
        if template is None:
            return None
        if _locally_affine(template, tuple(live)):
            return _instantiate(template, node, ins)
        if sum(live) == 1 and len(node.inputs) == 1:
            return self.integrate(node)
        raise NotImplementedError(f"sd.taylor: no Taylor rule for op {op!r} with {sum(live)} inputs depending on x; "
                                  "use sd.derivative")

    def power(self, node: Node, live: list[bool]) -> Node | None:
        base, exponent = node.inputs
        if live[1]:  # a^b = exp(b log a) where the exponent moves too
            return self.extend(exp(multiply(exponent, log(base))))
        if exponent.op == "constant":
            value = exponent.attr("value").array
            if value.size == 1 and float(value) in range(0, 9):  # small integer powers: products, exact at base 0
                return self.extend(_integer_power(base, int(value.reshape(()))))
        return power_series(self, node, base, exponent)

    def product(self, node: Node) -> Node:
        """``R`` of ``a * b`` or ``a @ b``: the Cauchy product of the two series."""
        a, b = node.inputs
        A, B = self.full(a), self.full(b)
        if node.op == "multiply":
            shape = (self.K + 1,) + node.shape
            A, B = (_broadcast(series, shape) for series in (A, B))
            return cauchy(A, B)[1:]
        # a matmul: Σ_i A_i @ B_(k-i) is the entrywise Cauchy product of A[..., m, :] and B[..., :] summed over m
        A = expand_dims(A, -2) if a.ndim == 1 else A  # vector operands as a row / a column
        B = expand_dims(B, -1) if b.ndim == 1 else B
        A, B = expand_dims(A, -1), expand_dims(B, -3)
        lead = broadcast_shapes(A.shape[:-3], B.shape[:-3])
        shape = lead + (A.shape[-3], A.shape[-2], B.shape[-1])
        product = total(cauchy(_broadcast(A, shape), _broadcast(B, shape)), axis=-2)
        product = squeeze(product, -2) if a.ndim == 1 else product
        product = squeeze(product, -1) if b.ndim == 1 else product
        return product[1:]

    def integrate(self, node: Node) -> Node:
        """``R`` of a one-input function from the series of its derivative ``h = f'(u)``:
        ``k f_k = Σ j u_j h_(k-j)``."""
        (u,) = node.inputs
        derivative = jvp(node, u, ones(u.shape, u.dtype))
        if any(n is node for n in toposort([derivative])):
            raise NotImplementedError(f"sd.taylor: no Taylor rule for op {node.op!r} (its derivative reads its own "
                                      "value); use sd.derivative")
        self.extend(derivative)
        h = self.full(derivative)[: self.K]
        orders = self.column(np.arange(1, self.K + 1), u)
        return cauchy(orders * self.series[id(u)], h) / orders


@lru_cache(maxsize=4096)
def _locally_affine(template: tuple, live: tuple[bool, ...]) -> bool:
    """Whether an op's tangent (its JVP template) stays the same when its live inputs or its value move: then it
    is linear or piecewise linear in them, and its higher Taylor coefficients are that JVP of the inputs'."""
    root, slots = template
    primals = [p for p, role, i in slots if role == "out" or role == "arg" and live[i]]
    moved = tangent_graph([root], primals, [ones(p.shape, p.dtype) for p in primals])
    return id(root) not in moved


@lru_cache(maxsize=64)
def _shifts(length: int) -> np.ndarray:
    """``S[j, i * length + k] = 1`` where ``j = k - i``: a series times ``S`` is its Toeplitz matrix, flattened."""
    j, i, k = np.indices((length,) * 3)
    return (j == k - i).astype(np.float64).reshape(length, length * length)


def cauchy(A: Node, B: Node) -> Node:
    """The Cauchy product of two series of the same shape (orders on axis 0): ``C[k] = Σ_(i+j=k) A[i] B[j]``.

    With the orders moved last, every entry's product is a row times a Toeplitz matrix: two matrix products
    batched over the entries (named dims included), whatever the number of orders."""
    length, own = A.shape[0], A.ndim - 1
    last = tuple(range(1, own + 1)) + (0,)
    A_t, B_t = transpose(A, last), transpose(B, last)
    toeplitz = reshape(matmul(B_t, constant(_shifts(length).astype(B.dtype))), B_t.shape[:-1] + (length, length))
    C_t = squeeze(matmul(expand_dims(A_t, -2), toeplitz), -2)  # [..., k] = Σ_i A[..., i] B[..., k - i]
    return transpose(C_t, (own,) + tuple(range(own)))


def _broadcast(series: Node, shape: tuple) -> Node:
    """A series to ``shape`` (orders first), aligning its own axes with the trailing ones as NumPy would."""
    if series.shape == shape:
        return series
    return broadcast_to(reshape(series, series.shape[:1] + (1,) * (len(shape) - series.ndim) + series.shape[1:]),
                        shape)


def _integer_power(base: Node, n: int) -> Node:
    """``base ** n`` as products (square and multiply)."""
    if n == 0:
        return ones(base.shape, base.dtype)
    half = _integer_power(base, n // 2)
    squared = multiply(half, half) if n > 1 else None
    if n % 2 == 0:
        return squared
    return base if squared is None else multiply(squared, base)


# -- recurrences in a scan over the orders -------------------------------------------------------------------
# Step k computes order k from running sums: ``acc[i]`` holds the part of order ``k + i``'s sum known so far, and
# each new order adds its contributions to all later ones at once (a shift and an axpy: no reductions, so the
# steps pipeline). The stacked carry of the new orders is ``R``.


def _shift(acc: Node) -> Node:
    """Running sums re-aligned for the next order: drop the one just used, zero the far end (a padded slice, which
    the kernel reads in place where a concatenation would be copied)."""
    rest = ((0, None, 1),) * (acc.ndim - 1)
    return make("pad_slice", [acc[1:]], shape=acc.shape, index=((0, acc.shape[0] - 1, 1),) + rest)


def _weights(walk: _Walk, u: Node, node: Node) -> tuple[Node, Node, Node]:
    """What every recurrence for ``node = f(u, ...)`` reads: ``j u_j`` and ``u_j`` (j = 1..K), aligned with
    ``node``'s axes as broadcasting aligns ``u`` (an exponent may be larger than the base), and ``1/k`` per step."""
    R = walk.series[id(u)]
    R = reshape(R, R.shape[:1] + (1,) * (node.ndim - u.ndim) + u.shape)
    orders = walk.column(np.arange(1, walk.K + 1), node)
    return orders * R, R, walk.const(1.0 / np.arange(1, walk.K + 1))


def _sin_cos(walk: _Walk, node: Node, u: Node) -> Node:
    """``sin``/``cos``: the pair ``s' = c u'``, ``c' = -s u'`` in one scan."""
    weighted, _, inverse = _weights(walk, u, node)
    s0, c0 = (node, cos(u)) if node.op == "sin" else (sin(u), node)

    def step(carry, inv_k):
        _, _, acc_s, acc_c = carry
        s_k, c_k = inv_k * acc_s[0], inv_k * acc_c[0]
        return s_k, c_k, _shift(acc_s) + weighted * c_k, _shift(acc_c) - weighted * s_k

    s, c, _, _ = scan(step, (s0, c0, weighted * c0, -(weighted * s0)), inverse)
    return s if node.op == "sin" else c


def self_recurrence(h_of: Callable[[Node, Node], Node], h_first: Callable[[Node, Node], Node]) -> Callable[..., Node]:
    """The rule of ``f(u)`` with ``f' = h·u'`` where ``h`` is a function of ``f`` and its Cauchy square ``f²``:
    ``h_of(f_k, (f²)_k)`` at orders k >= 1, ``h_first(f_0, f_0²)`` at order 0 (where constants enter)."""

    def rule(walk: _Walk, node: Node, u: Node) -> Node:
        K = walk.K
        weighted, _, inverse = _weights(walk, u, node)
        slots = walk.const(np.eye(K + 1)[1:].reshape((K, K + 1) + (1,) * node.ndim))
        known = walk.column(np.eye(K + 1)[0], node) * expand_dims(node, 0)  # orders so far, oldest first
        square = expand_dims(node, 0) * known  # the part of (f²)_(k+i) known so far; here k = 0

        def step(carry, inv_k, slot):
            _, acc, known, square = carry
            f_k = inv_k * acc[0]
            more = known + slot * expand_dims(f_k, 0)
            square = square + expand_dims(f_k, 0) * (known + more)  # the pairs (k, m) and (m, k)
            return f_k, _shift(acc) + weighted * h_of(f_k, square[0]), more, _shift(square)

        start = weighted * h_first(node, square[0])
        f, _, _, _ = scan(step, (node, start, known, _shift(square)), (inverse, slots))
        return f

    return rule


def _exp(walk: _Walk, node: Node, u: Node) -> Node:
    """``exp``: ``f' = f u'``."""
    weighted, _, inverse = _weights(walk, u, node)

    def step(carry, inv_k):
        f_k = inv_k * carry[1][0]
        return f_k, _shift(carry[1]) + weighted * f_k

    f, _ = scan(step, (node, weighted * node), inverse)
    return f


def power_series(walk: _Walk, node: Node, base: Node, exponent: Node) -> Node:
    """``u^a`` for a constant ``a``: ``k u_0 f_k = Σ_j ((a + 1) j - k) u_j f_(k-j)`` (singular where ``u_0 = 0``)."""
    weighted, plain, inverse = _weights(walk, base, node)
    scale = exponent + 1.0

    def step(carry, inv_k):
        _, acc_weighted, acc_plain = carry
        f_k = (scale * inv_k * acc_weighted[0] - acc_plain[0]) / base
        return f_k, _shift(acc_weighted) + weighted * f_k, _shift(acc_plain) + plain * f_k

    f, _, _ = scan(step, (node, weighted * node, plain * node), inverse)
    return f


#: Ops whose Taylor series run a recurrence.
RECURRENCES: dict[str, Callable[..., Node]] = {
    "exp": _exp,
    "tanh": self_recurrence(lambda f, square: -square, lambda f, square: 1.0 - square),
    "tan": self_recurrence(lambda f, square: square, lambda f, square: 1.0 + square),
    "sigmoid": self_recurrence(lambda f, square: f - square, lambda f, square: f - square),
    "sin": _sin_cos,
    "cos": _sin_cos,
}

#: Ops whose series equal another graph's of the same inputs at orders >= 1 (the same function, or one that
#: differs by a locally constant term).
EQUIVALENTS: dict[str, Callable[..., Node]] = {
    "sqrt": lambda u: power(u, 0.5),
    "exp2": lambda u: exp(multiply(u, math.log(2.0))),
    "expm1": exp,
    "tanh_grad": lambda t, u: subtract(1.0, multiply(t, t)),
    "arctan2": lambda a, b: make("arctan", [a / b]),
}
