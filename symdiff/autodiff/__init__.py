"""Automatic differentiation that builds graphs: reverse mode (grad, vjp), forward mode (jvp) and
the derivatives built from them (jacobian, hessian, hvp, n-th derivatives)."""

from .cumulative import cumsum
from .forward import jvp, tangent_graph
from .higher import derivative, hessian, hvp, jacobian, vjp
from .reverse import DisconnectedInputError, grad, unbroadcast, vjp_graph
from .scan import scan
from .taylor import taylor

__all__ = [
    "DisconnectedInputError", "cumsum", "derivative", "grad", "hessian", "hvp", "jacobian", "jvp", "scan",
    "tangent_graph", "taylor", "unbroadcast", "vjp", "vjp_graph",
]
