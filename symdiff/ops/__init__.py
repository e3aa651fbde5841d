"""The op table (``OPS``) and the NumPy-named builders; importing this installs Node's operators."""

from ..ir import OPERATORS
from . import pickling as _pickling  # noqa: F401 - registers how nodes pickle (copyreg)
from .binary import (
    add,
    arctan2,
    clip,
    divide,
    equal,
    greater,
    greater_equal,
    less,
    less_equal,
    max_of,
    maximum,
    minimum,
    multiply,
    not_equal,
    power,
    reciprocal,
    square,
    subtract,
    where,
)
from .composites import log_softmax, logsumexp, softmax
from .conv import avg_pool1d, avg_pool2d, conv1d, conv2d, global_avg_pool2d, max_pool1d, max_pool2d
from .einsum import einsum
from .elementwise import (
    abs,
    arctan,
    cast,
    ceil,
    cos,
    cosh,
    erf,
    erfc,
    exp,
    exp2,
    expm1,
    floor,
    log,
    log1p,
    log2,
    log10,
    negative,
    round,
    sigmoid,
    sign,
    sin,
    sinh,
    softplus,
    sqrt,
    stop_gradient,
    tan,
    tanh,
)
from .elementwise import (
    to_float as to_float,
)
from .indexing import concatenate, eye, getitem, one_hot, take_along_axis
from .leaves import constant, scalar, tensor
from .linalg import dot, matmul
from .protocols import install as _install_protocols
from .random import random_uniform
from .reductions import count, max, mean, min, sum
from .registry import OPS as OPS
from .registry import OpDef as OpDef
from .registry import constant_value as constant_value
from .registry import defop as defop
from .registry import make as make
from .shape_ops import broadcast_to, expand_dims, reshape, squeeze, swapaxes, transpose
from .statistics import argmax, argmin, prod, relu, stack, std, var

OPERATORS.update(
    add=add, subtract=subtract, multiply=multiply, divide=divide, power=power, matmul=matmul,
    less=less, less_equal=less_equal, greater=greater, greater_equal=greater_equal, equal=equal,
    not_equal=not_equal, negative=negative, abs=abs, getitem=getitem, transpose=transpose,
)
_install_protocols()


def zeros(shape, dtype: str = "float64"):
    """A tensor of zeros (named dims allowed)."""
    return broadcast_to(constant(0, dtype), shape)


def ones(shape, dtype: str = "float64"):
    """A tensor of ones (named dims allowed)."""
    return broadcast_to(constant(1, dtype), shape)


def zeros_like(x):
    """Zeros with ``x``'s shape and dtype."""
    return zeros(x.shape, x.dtype)


def ones_like(x):
    """Ones with ``x``'s shape and dtype."""
    return ones(x.shape, x.dtype)


# The NumPy-named builders, re-exported as ``sd.<name>``; the op table and make/defop stay under sd.ops.
__all__ = [
    "abs", "add", "arctan", "arctan2", "argmax", "argmin", "avg_pool1d", "avg_pool2d", "broadcast_to", "cast",
    "ceil", "clip", "concatenate", "constant", "conv1d", "conv2d", "cos", "cosh", "count", "divide", "dot",
    "einsum", "equal", "erf", "erfc", "exp", "eye", "exp2", "expand_dims", "expm1", "floor", "global_avg_pool2d",
    "greater", "greater_equal", "less", "less_equal", "log", "log1p", "log2", "log10", "log_softmax", "logsumexp",
    "matmul", "max", "max_of", "max_pool1d", "max_pool2d", "maximum", "mean", "min", "minimum", "multiply", "negative",
    "not_equal", "one_hot", "ones", "ones_like", "power", "prod", "random_uniform", "reciprocal", "relu", "reshape",
    "round", "scalar", "sigmoid", "sign", "sin", "sinh", "softmax", "softplus", "sqrt", "square", "squeeze", "stack",
    "std", "stop_gradient", "subtract", "sum", "swapaxes", "take_along_axis", "tan", "tanh", "tensor", "transpose",
    "var", "where", "zeros", "zeros_like",
]
