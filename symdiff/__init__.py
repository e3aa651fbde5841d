"""symdiff: symbol-to-symbol differentiation compiled to Numba kernels.

Build a graph with ``sd.tensor`` and NumPy-named builders, derive gradients as new graphs with
``sd.grad``, evaluate with ``sd.evaluate`` (NumPy reference) and check with ``sd.check_grad``.
Importing symdiff does not import Numba.
"""

from . import ops
from .autodiff import DisconnectedInputError, grad
from .evaluate import FeedError, evaluate
from .gradcheck import GradCheckResult, GradientCheckError, check_grad
from .ir import Node, ShapeError, count_nodes, inputs_of, toposort
from .ops import *  # noqa: F403 - the NumPy-named builders listed in ops.__all__

__version__ = "0.1.0"

__all__ = [
    "DisconnectedInputError", "FeedError", "GradCheckResult", "GradientCheckError", "Node", "ShapeError",
    "check_grad", "count_nodes", "evaluate", "grad", "inputs_of", "ops", "toposort",
]
__all__ += ops.__all__
