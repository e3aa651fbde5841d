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
from .ops import (
    abs,
    add,
    broadcast_to,
    cast,
    concatenate,
    constant,
    cos,
    divide,
    dot,
    equal,
    exp,
    expand_dims,
    expm1,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    multiply,
    negative,
    not_equal,
    one_hot,
    ones,
    ones_like,
    power,
    reshape,
    scalar,
    sigmoid,
    sign,
    sin,
    softmax,
    softplus,
    sqrt,
    square,
    squeeze,
    stop_gradient,
    subtract,
    sum,
    swapaxes,
    take_along_axis,
    tanh,
    tensor,
    transpose,
    where,
    zeros,
    zeros_like,
)

__version__ = "0.1.0"

__all__ = [
    "DisconnectedInputError", "FeedError", "GradCheckResult", "GradientCheckError", "Node", "ShapeError",
    "abs", "add", "broadcast_to", "cast", "check_grad", "concatenate", "constant", "cos", "count_nodes",
    "divide", "dot", "equal", "evaluate", "exp", "expand_dims", "expm1", "grad", "greater", "greater_equal",
    "inputs_of", "less", "less_equal", "log", "log1p", "log_softmax", "logsumexp", "matmul", "max", "maximum",
    "mean", "min", "minimum", "multiply", "negative", "not_equal", "one_hot", "ones", "ones_like", "ops",
    "power", "reshape", "scalar", "sigmoid", "sign", "sin", "softmax", "softplus", "sqrt", "square", "squeeze",
    "stop_gradient", "subtract", "sum", "swapaxes", "take_along_axis", "tanh", "tensor", "toposort",
    "transpose", "where", "zeros", "zeros_like",
]
