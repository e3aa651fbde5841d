"""What rules may assume about a node: a deterministic structural order, finiteness and sign.

The analyses are conservative and local (a few levels deep at most): a False answer only means
"not known", so a guarded rule simply does not fire.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..ir import FrozenArray, Node
from .memo import NodeMemo

_FINGERPRINTS: NodeMemo[bytes] = NodeMemo()

#: Ops whose result is always finite (booleans, [0, 1) samples).
_FINITE_FROM_ANY = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "random_uniform"}
#: Ops whose result is finite when their inputs are: bounded functions (which still map NaN to NaN), views,
#: and polynomial arithmetic (assuming it does not overflow, see known_finite).
_FINITE_IF_INPUTS_FINITE = {"tanh", "sin", "cos", "sigmoid", "sign", "softplus", "negative", "abs", "reshape",
                            "transpose", "broadcast_to", "slice", "pad_slice", "maximum", "minimum", "max", "min",
                            "max_of", "take_along_axis", "scatter_add", "concatenate", "stop_gradient", "where", "add",
                            "subtract", "multiply", "sum", "matmul"}
#: Ops whose result is never negative (NaN aside), whatever their inputs.
_NONNEGATIVE = {"exp", "sigmoid", "softplus", "sqrt", "abs", "count", "random_uniform"}
#: Ops whose result never exceeds 1.
_AT_MOST_ONE = {"sigmoid", "random_uniform"}
#: How far the analyses look below a node: they stay O(1) per query.
_DEPTH = 6


def fingerprint(node: Node) -> bytes:
    """A digest of ``node``'s structure (op, attributes, shape, dtype, inputs): equal graphs, equal digests.

    Unlike ``id`` or ``hash`` it is the same in every process, so orders built on it are deterministic.
    """
    done = _FINGERPRINTS.get(node)
    if done is not None:
        return done
    stack = [node]
    while stack:  # iterative post-order: graphs can be deeper than Python's recursion limit
        top = stack[-1]
        missing = [i for i in top.inputs if i not in _FINGERPRINTS]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        if top in _FINGERPRINTS:
            continue
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{top.op}|{top.shape}|{top.dtype}|".encode())
        for key, value in top.attrs:
            h.update(key.encode() + b"=" + _attr_bytes(value) + b"|")
        for child in top.inputs:
            h.update(_FINGERPRINTS.get(child))
        _FINGERPRINTS[top] = h.digest()
    return _FINGERPRINTS.get(node)


def _attr_bytes(value: object) -> bytes:
    if isinstance(value, FrozenArray):
        return value.array.dtype.str.encode() + repr(value.array.shape).encode() + value.array.tobytes()
    if isinstance(value, Node):  # a graph held in an attribute (a loop's body): its structure, not its repr
        return b"node:" + fingerprint(value)
    if isinstance(value, tuple) and any(isinstance(v, Node) for v in value):
        return b"(" + b",".join(_attr_bytes(v) for v in value) + b")"
    return repr(value).encode()


def order_key(node: Node) -> tuple[int, bytes]:
    """Canonical operand order for commutative ops: constants first, then by fingerprint."""
    return (0 if node.op == "constant" else 1, fingerprint(node))


def known_finite(node: Node, depth: int = _DEPTH) -> bool:
    """True when ``node`` is finite whenever the graph's inputs are.

    Rewrites such as ``x * 0 -> 0`` and ``x - x -> 0`` are exact only for finite ``x``. The analysis
    assumes the graph's inputs are finite and that sums and products of finite values do not overflow;
    ops that leave the finite range at ordinary arguments (exp, log, divide, power, sqrt, log1p, expm1)
    are never assumed finite.
    """
    if node.op == "constant":
        return bool(np.all(np.isfinite(node.attr("value").array)))
    if node.op == "input" or node.op in _FINITE_FROM_ANY:
        return True
    if node.op == "cast":  # a float64 above 3.4e38 narrowed to float32 is inf
        source = node.inputs[0].dtype
        return source in ("bool", "int32", "int64") or (
            not (source == "float64" and node.dtype == "float32") and known_finite(node.inputs[0], depth))
    if node.op in _FINITE_IF_INPUTS_FINITE and depth > 0:
        return all(known_finite(i, depth - 1) for i in node.inputs if i.dtype != "bool")
    return False


def known_nonnegative(node: Node, depth: int = _DEPTH) -> bool:
    """True when no entry of ``node`` can be negative."""
    if node.op == "constant":
        return bool(np.all(node.attr("value").array >= 0))
    if node.op in _NONNEGATIVE or node.dtype == "bool":
        return True
    if node.op == "multiply" and node.inputs[0] is node.inputs[1]:
        return True
    if node.op == "divide":  # not over any nonnegative value: x / -0.0 is -inf
        denominator = node.inputs[1]
        positive = denominator.op == "count" or denominator.op == "constant" and bool(
            np.all(denominator.attr("value").array > 0))
        return positive and depth > 0 and known_nonnegative(node.inputs[0], depth - 1)
    if node.op in ("multiply", "add", "reshape", "transpose", "broadcast_to", "sum", "max", "min", "max_of"):
        return depth > 0 and all(known_nonnegative(i, depth - 1) for i in node.inputs)
    if node.op == "subtract" and node.inputs[0].op == "constant":  # c - x with x <= c, as 1 - sigmoid(z)
        return known_at_most(node.inputs[1], float(np.min(node.inputs[0].attr("value").array, initial=np.inf)))
    return False


def known_at_most(node: Node, bound: float) -> bool:
    """True when no entry of ``node`` can exceed ``bound``."""
    if node.op == "constant":
        return bool(np.all(node.attr("value").array <= bound))
    return node.op in _AT_MOST_ONE and bound >= 1
