"""Automatic differentiation that builds graphs: grad (reverse mode) and friends."""

from .reverse import DisconnectedInputError, grad, unbroadcast, vjp_graph

__all__ = ["DisconnectedInputError", "grad", "unbroadcast", "vjp_graph"]
