"""Rules that remove identity and basis tensors from products: what turns a vectorized Jacobian into a closed form.

A vectorized Jacobian seeds its pass with the identity ``eye(n)``, reshaped into a batch of basis vectors: columns
``reshape(eye(n), (n, n, 1))`` or rows ``reshape(eye(n), (n, 1, n))``. Multiplying by a basis picks entries, so
``A @ eye -> A``, ``A @ (columns) -> the columns of A``, ``(rows) @ B -> the rows of B``; a matrix times a batch of
vectors is one matrix product; a transpose that only moves axes of length 1 is a reshape (the columns basis
transposed is the rows basis), and a product with a 1x1 constant is a scaling. With these the Hessian of
``x @ A @ x`` is ``A + A^T`` and a logistic loss's is ``X^T (s * X) / n + l I``.
"""

from __future__ import annotations

from .. import ops
from ..ir import Node
from .patterns import Match, P, Rule, Var

a, b = Var("a"), Var("b")


def _eye_size(node: Node, shape: tuple) -> int | None:
    """n when ``node`` is ``eye(n)`` or ``eye(n)`` reshaped to ``shape``, else None."""
    while node.op == "reshape":
        node = node.inputs[0]
    if node.op != "eye":
        return None
    n = node.attr("n")
    return n if node.shape == shape or _same_size(node.shape, shape) else None


def _same_size(x: tuple, y: tuple) -> bool:
    size = 1
    for d in y:
        if isinstance(d, str):
            return False
        size *= d
    return size == x[0] * x[1]


def _times_identity(m: Match) -> Node | None:
    """``A @ eye -> A`` and ``eye @ B -> B`` (operands of any batch shape)."""
    node = m.node
    if m.b.op == "eye" and node.shape == m.a.shape:
        return m.a
    if m.a.op == "eye" and node.shape == m.b.shape:
        return m.b
    return None


def _picked_entries(m: Match) -> Node | None:
    """``A @ (columns of eye) -> columns of A`` and ``(rows of eye) @ B -> rows of B`` (2-D A, B)."""
    A, E = m.a, m.b
    if A.ndim == 2 and E.ndim == 3 and E.shape[2] == 1 and _eye_size(E, E.shape) == E.shape[0] == E.shape[1]:
        n, rows = E.shape[0], A.shape[0]  # [b, i, 0] = A[i, b]
        return ops.reshape(ops.transpose(A), (n, rows, 1))
    E, B = m.a, m.b
    if B.ndim == 2 and E.ndim == 3 and E.shape[1] == 1 and _eye_size(E, E.shape) == E.shape[0] == E.shape[2]:
        n, cols = E.shape[0], B.shape[1]  # [b, 0, j] = B[b, j]
        return ops.reshape(B, (n, 1, cols))
    return None


def _batch_of_vectors(m: Match) -> Node | None:
    """A matrix times a batch of vectors is one matrix product: ``A @ reshape(B, (p, k, 1))`` is
    ``reshape(B @ A^T, (p, m, 1))`` and ``reshape(B, (p, 1, k)) @ A`` is ``reshape(B @ A, (p, 1, n))`` (2-D A, B):
    one BLAS-3 call instead of ``p`` matrix-vector ones."""
    node, A, V = m.node, m.a, m.b
    if A.ndim == 2 and V.op == "reshape" and V.ndim == 3 and V.shape[2] == 1 and V.inputs[0].ndim == 2 \
            and V.inputs[0].shape == V.shape[:2]:
        return ops.reshape(ops.matmul(V.inputs[0], ops.transpose(A)), node.shape)
    V, A = m.a, m.b
    if A.ndim == 2 and V.op == "reshape" and V.ndim == 3 and V.shape[1] == 1 and V.inputs[0].ndim == 2 \
            and V.inputs[0].shape == (V.shape[0], V.shape[2]):
        return ops.reshape(ops.matmul(V.inputs[0], A), node.shape)
    return None


def _scaled_by_one_entry(m: Match) -> Node | None:
    """``x @ c`` or ``c @ x`` with ``c`` a 1x1 constant: ``x * c``."""
    node = m.node
    for x, c in ((m.a, m.b), (m.b, m.a)):
        if c.op == "constant" and c.shape == (1, 1) and x.shape == node.shape:
            return ops.multiply(x, ops.reshape(c, ()))
    return None


def _transpose_of_unit_axes(m: Match) -> Node | None:
    """A transpose that keeps the order of the axes longer than 1 moves only length-1 axes: a reshape."""
    perm = m.node.attr("perm")
    long = [p for p in perm if m.a.shape[p] != 1]
    return ops.reshape(m.a, m.node.shape) if long == sorted(long) else None


BASIS_RULES = [
    Rule("A @ eye -> A, eye @ B -> B", P.matmul(a, b), _times_identity),
    Rule("A @ (basis columns) -> columns of A, (basis rows) @ B -> rows of B", P.matmul(a, b), _picked_entries),
    Rule("A @ (batch of vectors) -> one product", P.matmul(a, b), _batch_of_vectors),
    Rule("x @ (1x1 constant c) -> x * c", P.matmul(a, b), _scaled_by_one_entry),
    Rule("transpose moving only length-1 axes -> reshape", P.transpose(a), _transpose_of_unit_axes),
    Rule("transpose(eye) -> eye", P.transpose(P.eye()), lambda m: m.node.inputs[0]),
]

__all__ = ["BASIS_RULES"]
