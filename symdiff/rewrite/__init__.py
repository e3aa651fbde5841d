"""Graph rewriting: a pattern-rewrite engine and its rule tables (data), run to a fixpoint.

``simplify(nodes)`` applies :data:`DEFAULT_RULES` (constant folding, algebraic identities, a
canonical operand order, collection of like terms, view fusion, stability rewrites). Printers
and code generators call it before printing or lowering; it is memoised per node.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Node, toposort
from .engine import MAX_FIRINGS_PER_NODE, RewriteCycleError, RuleSet
from .facts import fingerprint, known_finite, known_nonnegative, order_key
from .patterns import Const, Match, OpPattern, P, Rule, Var
from .rules_algebra import ALGEBRA_RULES
from .rules_basis import BASIS_RULES
from .rules_lowering import LOWERING_RULES
from .rules_shapes import SHAPE_RULES
from .rules_stability import STABILITY_RULES
from .rules_sums import SUM_RULES

#: The default table: stability rewrites first (they need the patterns algebra would reorder away).
DEFAULT_RULES = RuleSet(STABILITY_RULES, SHAPE_RULES, BASIS_RULES, ALGEBRA_RULES, SUM_RULES)
#: The same without collection across sums: for graphs whose sums are shared too widely to rebuild.
LOCAL_RULES = RuleSet(STABILITY_RULES, SHAPE_RULES, BASIS_RULES, ALGEBRA_RULES)
#: Kernel-only forms (faster, less readable), applied to simplified graphs before lowering.
KERNEL_RULES = RuleSet(LOWERING_RULES)


def simplify(nodes: Node | Sequence[Node]) -> Node | list[Node]:
    """Simplified, equivalent graph(s) for ``nodes`` (a node or a list): same values up to rounding.

    Constant folding, algebraic identities (``x*1``, ``x+0``, ``-(-x)``, ``x*0`` and ``x-x`` for
    finite ``x``), like-term collection (``x + x -> 2*x``), fused views (transpose of transpose,
    reshape of reshape), ``sum(broadcast_to(x))`` as a product with the count, and stability rewrites
    (``log(softmax) -> log_softmax``, ``log(sigmoid(x)) -> -softplus(-x)``, ``log(1+x) -> log1p(x)``,
    ``exp(x)-1 -> expm1(x)``). Deterministic, linear in the graph size, memoised per node.

    Collecting terms rebuilds a sum, and when its partial sums are shared elsewhere (the adjoint
    accumulations of reverse mode) that can cost more nodes than it saves; so the table without
    cross-sum collection runs too, and the result with fewer operations is returned (ties: the full one).
    """
    result = DEFAULT_RULES.simplify(nodes)
    local = LOCAL_RULES.simplify(nodes)
    return local if _operations(local) < _operations(result) else result


def for_kernels(nodes: Node | Sequence[Node]) -> Node | list[Node]:
    """``nodes`` (simplified) in the forms kernels compute fastest (:data:`LOWERING_RULES`): what ``sd.compile``
    lowers. Same values up to rounding; printers keep the simplified form."""
    return KERNEL_RULES.simplify(nodes)


def _operations(nodes: Node | Sequence[Node]) -> int:
    """Nodes that compute something (inputs and constants are free)."""
    return sum(1 for n in toposort([nodes] if isinstance(nodes, Node) else nodes) if n.inputs)


__all__ = [
    "ALGEBRA_RULES", "BASIS_RULES", "DEFAULT_RULES", "KERNEL_RULES", "LOCAL_RULES", "LOWERING_RULES",
    "MAX_FIRINGS_PER_NODE", "SHAPE_RULES", "STABILITY_RULES", "SUM_RULES", "Const", "Match", "OpPattern", "P",
    "RewriteCycleError", "Rule", "RuleSet", "Var",
    "fingerprint", "for_kernels", "known_finite", "known_nonnegative", "order_key", "simplify",
]
