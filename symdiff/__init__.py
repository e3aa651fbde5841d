"""symdiff: symbol-to-symbol differentiation compiled to fused native kernels.

Build a graph with ``sd.tensor`` and NumPy-named builders, derive gradients as new graphs with
``sd.grad`` (and ``jvp``, ``hessian``, ``hvp``, ...), evaluate with ``sd.evaluate`` (NumPy reference),
check with ``sd.check_grad``, read them with ``sd.formula`` and compile them with ``sd.compile``.
Importing symdiff imports neither Numba nor SymPy; ``sd.spec`` and ``sd.train`` load on first use.
"""

import importlib

from . import nn, ops
from ._version import __version__ as __version__
from .autodiff import DisconnectedInputError, cumsum, derivative, hessian, hvp, jacobian, jvp, scan, taylor, vjp
from .compile import CompiledFunction, compile, export
from .compile_sympy import compile_sympy
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
from .rewrite import simplify
from .transforms import grad, jit, value_and_grad

__all__ = [
    "CompiledFunction", "DisconnectedInputError", "FeedError", "FormulaView", "GradCheckResult",
    "GradientCheckError", "GraphView", "Node", "ShapeError", "SympyConversionError",
    "UnsupportedSympyError", "check_grad", "compile", "compile_sympy", "count_nodes", "cumsum", "derivative",
    "display", "display_graph", "dprint", "evaluate", "export", "formula", "from_sympy", "grad", "hessian", "hvp",
    "inputs_of", "jacobian", "jvp", "latex", "nn", "ops", "render", "scan", "simplify", "taylor", "to_dot",
    "to_sympy", "toposort", "value_and_grad", "vjp", "jit",
]
__all__ += ops.__all__

# name -> (submodule, attribute): loaded on first access, which keeps ``import symdiff`` (and so a warm
# start of a compiled model) from paying for the spec reader, the training loop and scipy.sparse.
_LAZY = {"spec": ("spec", None), "train": ("train", None), "SpecError": ("spec", "SpecError"),
         "dump_spec": ("spec", "dump_spec"), "load_spec": ("spec", "load_spec"), "Trainer": ("train", "Trainer"),
         "load_model": ("spec", "load_model"),
         "jacobian_sparsity": ("sparse", "jacobian_sparsity"), "hessian_sparsity": ("sparse", "hessian_sparsity"),
         "sparse_jacobian": ("sparse", "sparse_jacobian"), "sparse_hessian": ("sparse", "sparse_hessian")}
__all__ += list(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'symdiff' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(f".{module_name}", __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
