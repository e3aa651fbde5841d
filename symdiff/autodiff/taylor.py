"""Taylor mode: the coefficients ``f(x), f'(x), f''(x)/2!, ..., f⁽ᴷ⁾(x)/K!`` of a graph in one forward walk.

A node's series is the node itself (order 0) and a tensor ``R`` of shape ``(K,) + node.shape`` holding orders
1..K, built from its inputs' series by one of four rules:

* ops whose tangent does not change with their differentiable inputs (linear ones, and piecewise-linear ones
  such as ``abs``, ``maximum``, ``where``, ``max``; found by differentiating the op's JVP template) apply that JVP
  to ``R``: all K orders at once, as forward mode pushes a batch of directions;
* products (``multiply``, ``matmul`` of two operands that depend on ``x``) are Cauchy products;
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

from ..ir import FLOAT_DTYPES, Node, depends_on, toposort
from ..ops import (
    OPS,
    concatenate,
    constant,
    cos,
    einsum,
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
    zeros,
)
from ..ops import sum as total
from .forward import _instantiate, _signature, _template, jvp, tangent_graph
from .scan import scan

LETTERS = "abcdefghlmnopqrstuvwxyz"  # einsum letters for a node's own axes (k, i, j index the orders)


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
        vector_a, vector_b = a.ndim == 1, b.ndim == 1  # matmul's vector operands become a row / a column
        A = expand_dims(A, -2) if vector_a else A
        B = expand_dims(B, -1) if vector_b else B
        lead = "".join(LETTERS[: A.ndim - 1])
        toeplitz = einsum(f"kji,i{lead}->kj{lead}", self.const(_shifts(self.K + 1)), A)  # [k, j] = A[k - j]
        product = total(matmul(toeplitz, expand_dims(B, 0)), axis=1)
        product = squeeze(product, -2) if vector_a else product
        product = squeeze(product, -1) if vector_b else product
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
    """``S[k, j, i] = 1`` where ``i = k - j``: contracting ``i`` with a series lays out its Toeplitz matrix."""
    k, j, i = np.indices((length,) * 3)
    return (i == k - j).astype(np.float64)


def cauchy(A: Node, B: Node) -> Node:
    """The Cauchy product of two series of the same shape (orders on axis 0): ``C[k] = Σ_(i+j=k) A[i] B[j]``."""
    length = A.shape[0]
    own = "".join(LETTERS[: A.ndim - 1])
    pairs = constant(np.transpose(_shifts(length), (0, 2, 1)).astype(A.dtype))  # [k, i, j] = 1 where i + j = k
    return einsum(f"kij,i{own},j{own}->k{own}", pairs, A, B)


def _broadcast(series: Node, shape: tuple) -> Node:
    """A series to ``shape`` (orders first), aligning its own axes with the trailing ones as NumPy would."""
    if series.shape == shape:
        return series
    aligned = reshape(series, series.shape[:1] + (1,) * (len(shape) - series.ndim) + series.shape[1:])
    return make("broadcast_to", [aligned], shape=shape)


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


def _history(walk: _Walk, start: Node) -> Node:
    """A carry holding ``start`` as order 0 and zeros: newest order first as the recurrence pushes orders."""
    return walk.column(np.eye(walk.K + 1)[0], start) * expand_dims(start, 0)


def _push(history: Node, value: Node, K: int) -> Node:
    return concatenate([expand_dims(value, 0), history[:K]], axis=0)


def _ordered(history: Node, K: int) -> Node:
    """Orders 1..K from a history holding order K first and order 0 last."""
    return history[K - 1::-1]


def _steps(walk: _Walk, u: Node) -> tuple[Node, Node, Node]:
    """What every recurrence reads: ``j u_j`` and ``u_j`` (j = 1..K) and ``1/k`` per step."""
    R = walk.series[id(u)]
    orders = walk.column(np.arange(1, walk.K + 1), u)
    return orders * R, R, walk.const(1.0 / np.arange(1, walk.K + 1))


def _dot(a: Node, b: Node) -> Node:
    return total(a * b, axis=0)


def self_recurrence(h_of: Callable[[Node, Node, Node, Node], Node]) -> Callable[..., Node]:
    """The rule of ``f(u)`` with ``f' = h(f)·u'``, where ``h_of(last, square, first_step, f0)`` gives ``h`` at the
    previous order from the last order of ``f``, the Cauchy square of ``f`` at that order, and 1 at the first step
    (else 0)."""

    def rule(walk: _Walk, node: Node, u: Node) -> Node:
        K = walk.K
        weighted, _, inverse = _steps(walk, u)
        first = walk.const(np.eye(K)[0])
        slots = walk.const(np.eye(K + 1)[1:].reshape((K, K + 1) + (1,) * node.ndim))

        def step(carry, inv_k, is_first, slot):
            newest, oldest, h_hist = carry  # f newest first, f oldest first, h newest first
            h = h_of(newest[0], _dot(oldest, newest), is_first, node)
            h_hist = _push(h_hist, h, K)
            f_k = inv_k * _dot(weighted, h_hist[:K])
            return _push(newest, f_k, K), oldest + slot * expand_dims(f_k, 0), h_hist

        start = _history(walk, node)
        newest, _, _ = scan(step, (start, start, start * 0.0), (inverse, first, slots), keep="last")
        return _ordered(newest, K)

    return rule


def _sin_cos(walk: _Walk, node: Node, u: Node) -> Node:
    """``sin``/``cos``: the pair ``s' = c u'``, ``c' = -s u'`` in one scan."""
    K = walk.K
    weighted, _, inverse = _steps(walk, u)
    s0, c0 = (node, cos(u)) if node.op == "sin" else (sin(u), node)

    def step(carry, inv_k):
        s_hist, c_hist = carry
        s_k = inv_k * _dot(weighted, c_hist[:K])
        c_k = -inv_k * _dot(weighted, s_hist[:K])
        return _push(s_hist, s_k, K), _push(c_hist, c_k, K)

    s_hist, c_hist = scan(step, (_history(walk, s0), _history(walk, c0)), inverse, keep="last")
    return _ordered(s_hist if node.op == "sin" else c_hist, K)


def power_series(walk: _Walk, node: Node, base: Node, exponent: Node) -> Node:
    """``u^a`` for a constant ``a``: ``k u_0 f_k = Σ_j ((a + 1) j - k) u_j f_(k-j)`` (singular where ``u_0 = 0``)."""
    K = walk.K
    weighted, plain, inverse = _steps(walk, base)
    scale = exponent + 1.0

    def step(history, inv_k):
        f_k = (scale * inv_k * _dot(weighted, history[:K]) - _dot(plain, history[:K])) / base
        return _push(history, f_k, K)

    return _ordered(scan(step, _history(walk, node), inverse, keep="last"), K)


#: Ops whose Taylor series run a recurrence.
RECURRENCES: dict[str, Callable[..., Node]] = {
    "exp": self_recurrence(lambda last, square, first, f0: last),
    "tanh": self_recurrence(lambda last, square, first, f0: first - square),
    "tan": self_recurrence(lambda last, square, first, f0: first + square),
    "sigmoid": self_recurrence(lambda last, square, first, f0: last - square),
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
