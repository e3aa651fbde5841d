"""Function transforms for JAX users: ``sd.grad(f)``, ``sd.value_and_grad(f)`` and ``sd.jit(f)`` where ``f`` is a
Python function of arrays written with symdiff (or NumPy) operations.

The first call with a new signature (each argument's shape and dtype) traces ``f`` once on symbolic tensors named
after its parameters, derives the gradient symbolically, compiles one kernel and caches it; later calls with that
signature only run the kernel. The derived graph stays inspectable: ``.formula(*args)``, ``.graph(*args)``,
``.compiled(*args).source``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autodiff import grad as grad_graph
from .autodiff.scan import substitute
from .codegen.module import input_name_problem
from .compile import CompiledFunction
from .compile import compile as compile_graph
from .ir import FLOAT_DTYPES, Node, ShapeError
from .ops import constant


class Transformed:
    """``f`` traced per signature and compiled: ``mode`` is "jit" (f's outputs), "grad" (the gradient with
    respect to the arguments ``argnums``) or "value_and_grad" (both, as ``(value, gradient)``)."""

    def __init__(self, f: Callable[..., Any], mode: str, argnums: int | Sequence[int] = 0) -> None:
        if not callable(f):
            raise TypeError(f"{mode}: expected a function, got {type(f).__name__}")
        self.f, self.mode = f, mode
        self.single = isinstance(argnums, int)
        self.argnums = (argnums,) if self.single else tuple(argnums)
        self._signature = inspect.signature(f)
        parameters = list(self._signature.parameters.values())
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
            raise TypeError(f"{mode}: {_name(f)} takes *args or **kwargs; it must name each array it takes (one "
                            "input of the traced graph per parameter)")
        self._names = [p.name for p in parameters]
        self._keyword_only = {p.name for p in parameters if p.kind == p.KEYWORD_ONLY}
        self._input_names = _input_names(self._names)  # the traced tensors' names
        #: signature -> (inputs, derived outputs, compiled kernel or None, whether f returned one node)
        self._cache: dict[tuple, tuple[list[Node], list[Node], CompiledFunction | None, bool]] = {}
        self.__wrapped__ = f
        self.__doc__ = f.__doc__

    def __repr__(self) -> str:
        return f"<symdiff {self.mode} of {getattr(self.f, '__qualname__', self.f)!r}, {len(self._cache)} signatures>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        values = self._bind(args, kwargs)
        if any(isinstance(v, Node) for v in values):  # called while another transform traces: the derived graph
            nodes = [v if isinstance(v, Node) else constant(np.asarray(v)) for v in values]
            inputs, outputs, _, single_output = self._traced(nodes, compile_it=False)
            results = substitute(outputs, {id(i): n for i, n in zip(inputs, nodes)})
        else:
            arrays = [np.asarray(v) for v in values]
            _, _, compiled, single_output = self._traced(arrays, compile_it=True)
            results = list(compiled(*arrays))  # outputs were given as a list: a sequence back
        if self.mode == "jit":
            return results[0] if single_output else tuple(results)
        gradients = results[-len(self.argnums):]
        gradient = gradients[0] if self.single else tuple(gradients)
        return (results[0], gradient) if self.mode == "value_and_grad" else gradient

    def _bind(self, args: tuple, kwargs: dict[str, Any]) -> list[Any]:
        """The arguments in parameter order, as a Python call binds them (defaults filled in)."""
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.mode}: {_name(self.f)} takes {len(self._names)} arguments "
                            f"({', '.join(self._names)}): {exc}") from None
        bound.apply_defaults()
        return [bound.arguments[name] for name in self._names]

    def graph(self, *args: Any, **kwargs: Any) -> list[Node]:
        """The derived graph(s) for the signature of the arguments (arrays or anything with .shape and .dtype)."""
        return self._traced([_spec(a) for a in self._bind(args, kwargs)], compile_it=False)[1]

    def compiled(self, *args: Any, **kwargs: Any) -> CompiledFunction:
        """The compiled kernel for the signature of the arguments (``.source`` is its Numba source)."""
        return self._traced([np.asarray(a) for a in self._bind(args, kwargs)], compile_it=True)[2]

    def formula(self, *args: Any, **kwargs: Any) -> str:
        """The derived graph(s) for the signature of the arguments as readable math (``sd.formula``)."""
        from .printing import formula

        return "\n".join(str(formula(node)) for node in self.graph(*args, **kwargs))

    def _traced(self, arrays: list[Any], compile_it: bool):
        """The cache entry of the signature of ``arrays`` (one per parameter, as :meth:`_bind` orders them)."""
        signature = tuple((tuple(a.shape), str(a.dtype)) for a in arrays)
        entry = self._cache.get(signature)
        if entry is None:
            entry = self._cache[signature] = self._trace(signature)
        if compile_it and entry[2] is None:
            entry = self._cache[signature] = (entry[0], entry[1], compile_graph(entry[0], entry[1]), entry[3])
        return entry

    def _trace(self, signature: tuple) -> tuple[list[Node], list[Node], None, bool]:
        from .ops import tensor

        inputs = [tensor(name, shape, dtype) for name, (shape, dtype) in zip(self._input_names, signature)]
        out = self.f(*[t for name, t in zip(self._names, inputs) if name not in self._keyword_only],
                     **{name: t for name, t in zip(self._names, inputs) if name in self._keyword_only})
        outputs = [out] if isinstance(out, Node) else list(out) if isinstance(out, tuple | list) else None
        if outputs is None or not all(isinstance(o, Node) for o in outputs):
            raise TypeError(f"{self.mode}: {_name(self.f)} must return a symdiff node (or a tuple of nodes) when "
                            f"called on symbolic tensors, got {type(out).__name__}")
        if self.mode == "jit":
            return inputs, outputs, None, isinstance(out, Node)
        value = outputs[0]
        if len(outputs) != 1 or value.shape != () or value.dtype not in FLOAT_DTYPES:
            raise ShapeError(f"{self.mode}: {_name(self.f)} must return one floating-point scalar, got "
                             f"{[(o.shape, o.dtype) for o in outputs]}")
        for k in self.argnums:
            if not 0 <= k < len(inputs) or inputs[k].dtype not in FLOAT_DTYPES:
                raise ValueError(f"{self.mode}: argnums {k} must name a floating-point argument of "
                                 f"{_name(self.f)}{tuple(self._names)}")
        gradients = grad_graph(value, [inputs[k] for k in self.argnums])
        return inputs, ([value] if self.mode == "value_and_grad" else []) + gradients, None, False


def _input_names(parameters: list[str]) -> list[str]:
    """The traced inputs' names: the parameters', made compilable where they are not (``min`` -> ``min_``, ``_x``
    -> ``x_``: a compiled function's inputs cannot shadow builtins or the generated code's own names)."""
    names: list[str] = []
    for name in parameters:
        renamed = name
        while input_name_problem(renamed) is not None or renamed != name and renamed in {*parameters, *names}:
            renamed = (renamed.lstrip("_") or "arg") + "_"
        names.append(renamed)
    return names


def _name(f: Callable[..., Any]) -> str:
    return getattr(f, "__name__", type(f).__name__)


def _spec(a: Any) -> Any:
    return a if hasattr(a, "shape") and hasattr(a, "dtype") else np.asarray(a)


def grad(f: Node | Callable[..., Any], wrt: Node | Sequence[Node] | None = None, *, argnums: int | Sequence[int] = 0,
         disconnected: str = "zero") -> Any:
    """Two forms. ``grad(y, wrt)``: the gradient graph(s) of the scalar node ``y`` (see
    :func:`symdiff.autodiff.grad`). ``grad(f, argnums=0)``: a function returning the gradient of the Python
    function ``f`` with respect to its argument(s) ``argnums``, traced, derived and compiled per signature."""
    if isinstance(f, Node):
        if wrt is None:
            raise TypeError("grad(y, wrt): give the nodes to differentiate with respect to")
        return grad_graph(f, wrt, disconnected=disconnected)
    if wrt is not None:
        raise TypeError(f"grad: the first argument is a function ({type(f).__name__}); pass argnums=, not wrt")
    return Transformed(f, "grad", argnums)


def value_and_grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Transformed:
    """A function returning ``(f(*args), gradient)``: one kernel computes both."""
    return Transformed(f, "value_and_grad", argnums)


def jit(f: Callable[..., Any]) -> Transformed:
    """``f`` traced once per signature and compiled to one kernel; returns NumPy arrays."""
    return Transformed(f, "jit")
