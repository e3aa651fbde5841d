"""Rules for kernels only: forms that compute faster but read worse, applied by ``sd.compile`` after ``simplify``
(``sd.formula`` keeps the readable form).

A weighted gram product ``(Xᵀ ⊙ v) @ X`` (the Hessian of a logistic loss, Gauss-Newton matrices) is symmetric; with
``v >= 0`` it is ``Bᵀ @ B`` for ``B = X ⊙ √v``, which kernels compute with BLAS ``?syrk``: one triangle, half the
multiply-adds of ``?gemm``.
"""

from __future__ import annotations

from .. import ops
from ..ir import Node
from .facts import known_nonnegative
from .patterns import Match, P, Rule, Var


def _factors(node: Node) -> list[Node]:
    """The factors of a tree of multiplies (a node that is no multiply is its own one factor)."""
    if node.op != "multiply":
        return [node]
    return [f for operand in node.inputs for f in _factors(operand)]


def _row_weights(factors: list[Node], axis: int) -> list[Node] | None:
    """Each factor as a column (k, 1) of weights along axis ``axis`` of a 2-D product (-1: the last axis, varying
    along k; 0: the first); None when one varies along the other axis too."""
    along = 1 if axis < 0 else 0  # the axis the weights vary along; the other must be 1
    columns = []
    for f in factors:
        full = (1,) * (2 - f.ndim) + f.shape
        if f.ndim > 2 or full[1 - along] != 1:
            return None
        columns.append(ops.reshape(f, (full[along], 1)))
    return columns


def _weighted_gram(m: Match) -> Node | None:
    """``(Xᵀ ⊙ v) @ X`` or ``Xᵀ @ (v ⊙ X)`` with v >= 0 along the rows of X: ``Bᵀ @ B``, ``B = X ⊙ √v``."""
    left, right = m.a, m.b
    if left.ndim != 2 or right.ndim != 2:
        return None
    for weighted, plain, axis in ((left, right, -1), (right, left, 0)):
        factors = _factors(weighted)
        core = [f for f in factors if _is_gram_partner(f, plain, axis)]
        if len(core) != 1 or len(factors) == 1:
            continue
        X = plain if axis < 0 else plain.inputs[0]
        weights = _row_weights([f for f in factors if f is not core[0]], axis)
        if weights is None:
            continue
        v = weights[0]
        for w in weights[1:]:
            v = ops.multiply(v, w)
        if not known_nonnegative(v) or v.dtype != X.dtype:
            continue
        B = ops.multiply(X, ops.sqrt(v))
        return ops.matmul(ops.transpose(B), B) if B.shape == X.shape else None
    return None


def _is_gram_partner(factor: Node, plain: Node, axis: int) -> bool:
    """``factor`` is ``plainᵀ`` (the weighted operand is on the left) or ``plain`` is ``factorᵀ`` (on the right)."""
    if axis < 0:
        return factor.op == "transpose" and factor.inputs[0] is plain and factor.attr("perm") == (1, 0)
    return plain.op == "transpose" and plain.inputs[0] is factor and plain.attr("perm") == (1, 0)


a, b = Var("a"), Var("b")

LOWERING_RULES = [
    Rule("(Xᵀ ⊙ v) @ X -> Bᵀ @ B with B = X ⊙ √v (v >= 0): a symmetric product, one triangle by ?syrk",
         P.matmul(a, b), _weighted_gram),
]

__all__ = ["LOWERING_RULES"]
