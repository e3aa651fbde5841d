"""symdiff: symbol-to-symbol differentiation compiled to Numba kernels.

Build a graph with ``sd.tensor`` and NumPy-named builders, derive gradients as new graphs with
``sd.grad`` (and ``jvp``, ``hessian``, ``hvp``, ...), evaluate with ``sd.evaluate`` (NumPy reference),
check with ``sd.check_grad``, read them with ``sd.formula`` and compile them with ``sd.compile``.
Importing symdiff imports neither Numba nor SymPy.
"""

from . import nn, ops, spec, train
from .autodiff import DisconnectedInputError, derivative, grad, hessian, hvp, jacobian, jvp, vjp
from .compile import CompiledFunction, compile, export
from .evaluate import FeedError, evaluate
from .gradcheck import GradCheckResult, GradientCheckError, check_grad
from .ir import Node, ShapeError, count_nodes, inputs_of, toposort
from .ops import *  # noqa: F403 - the NumPy-named builders listed in ops.__all__
from .printing import (
    FormulaView,
    GraphView,
    SympyConversionError,
    UnsupportedSympyError,
    display,
    display_graph,
    dprint,
    formula,
    from_sympy,
    latex,
    render,
    to_dot,
    to_sympy,
)
from .printing.compile_sympy import compile_sympy
from .rewrite import simplify
from .spec import SpecError, dump_spec, load_spec
from .train import Trainer

__version__ = "0.1.0"

__all__ = [
    "CompiledFunction", "DisconnectedInputError", "FeedError", "FormulaView", "GradCheckResult",
    "GradientCheckError", "GraphView", "Node", "ShapeError", "SpecError", "SympyConversionError", "Trainer",
    "UnsupportedSympyError", "check_grad", "compile", "compile_sympy", "count_nodes", "derivative", "display",
    "display_graph", "dprint", "dump_spec", "evaluate", "export", "formula", "from_sympy", "grad", "hessian", "hvp",
    "inputs_of", "jacobian", "jvp", "latex", "load_spec", "nn", "ops", "render", "simplify", "spec", "to_dot",
    "to_sympy", "toposort", "train", "vjp",
]
__all__ += ops.__all__
