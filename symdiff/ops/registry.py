"""The op table: one :class:`OpDef` record per op, and the generic node constructor.

Every consumer (reference evaluator, autodiff, printers, code generator) is a small
walker that reads these records; adding an op means adding one record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ir import FrozenArray, Node, Shape

#: ``infer(inputs, attrs) -> (shape, dtype)``; raises ShapeError/TypeError naming the op and shapes.
InferRule = Callable[[tuple[Node, ...], dict[str, Any]], tuple[Shape, str]]
#: ``vjp(g, out, *inputs, **attrs) -> one cotangent (Node or None) per input``, built from ops.
#: Elementwise rules may return cotangents in the output's (broadcast) shape: the walker un-broadcasts.
VjpRule = Callable[..., Sequence[Node | None]]

KINDS = ("leaf", "elementwise", "reduction", "shape", "index", "matmul", "loop")


@dataclass(frozen=True)
class OpDef:
    """Everything symdiff knows about one op.

    * ``kind``: one of :data:`KINDS`; the code generator schedules by kind.
    * ``infer``: the shape/dtype rule.
    * ``numpy``: the reference implementation ``(*arrays, **attrs) -> ndarray``; attributes named
      ``shape`` arrive with named dims already resolved.
    * ``vjp``: the reverse-mode rule, or None when the op has no derivative (comparisons, sign, ...).
    * ``jvp``: a forward-mode rule ``(tangents, out, *inputs, **attrs) -> tangent`` (``tangents`` holds None for
      inputs without one; they lead with the walk's batch axes). Optional: forward mode otherwise transposes the
      VJP rule, which needs it linear in the cotangent as a graph (a loop's derivative is linear only as a map).
    * ``sympy``: ``(sympy_module, *args, **attrs) -> expr`` for scalar rendering, elementwise ops only.
    * ``kernel``: how compiled kernels compute one element of an elementwise op, as data the code generator reads:
      ``("op", name)`` a kernel IR operation (codegen/kir.py) on the arguments converted to the result dtype,
      ``("compare", name)`` on the arguments converted to their common dtype, ``("call", function)`` a function
      of the scalar function table (ops/functions.py), ``("select",)``, ``("cast",)``, ``("identity",)``,
      ``("sign",)``, ``("power",)``, or ``("expand", build)``: ``build(*inputs)`` is the same value as a graph of
      other ops.
    * ``definition``: for ops made at run time (user modules), what they compute, as text: two processes may
      give one name different meanings, so compiled-kernel caches key on it.
    * ``remake``: for ops made at run time, how another process makes the same op, as data: ``(maker, *arguments)``
      with ``maker`` a name in :data:`MAKERS` (a pickled compiled function carries it, symdiff/compile.py).
    """

    name: str
    kind: str
    infer: InferRule
    numpy: Callable[..., Any]
    vjp: VjpRule | None = None
    jvp: Callable[..., Node] | None = None
    sympy: Callable[..., Any] | None = None
    kernel: tuple | None = None
    definition: str = ""
    remake: tuple = ()


OPS: dict[str, OpDef] = {}
#: Who makes ops at run time, by the name their ``OpDef.remake`` gives (symdiff.nn registers "elementwise").
MAKERS: dict[str, Callable[..., Any]] = {}


def defop(name: str, kind: str, infer: InferRule, numpy: Callable[..., Any], **rest: Any) -> OpDef:
    """Register an op record; names are unique."""
    if name in OPS:
        raise ValueError(f"op {name!r} is already defined")
    if kind not in KINDS:
        raise ValueError(f"op {name!r}: kind {kind!r} is not one of {KINDS}")
    OPS[name] = op = OpDef(name, kind, infer, numpy, **rest)
    return op


def make(name: str, inputs: Sequence[Node], **attrs: Any) -> Node:
    """Build (or fetch the interned) node ``name(*inputs, **attrs)``, folding all-constant inputs."""
    op = OPS[name]
    inputs = tuple(inputs)
    shape, dtype = op.infer(inputs, attrs)
    if inputs and op.kind != "leaf" and all(i.op == "constant" for i in inputs) and _foldable(shape, inputs):
        with np.errstate(all="ignore"):  # IEEE results (inf, nan) fold like any other value
            value = op.numpy(*(i.attr("value").array for i in inputs), **attrs)
        return constant(np.asarray(value, dtype=dtype).reshape(shape))
    return Node(name, inputs, attrs, shape, dtype)


def _foldable(shape: Shape, inputs: tuple[Node, ...]) -> bool:
    # Fold into small concrete constants no larger than the constants folded: a graph never gains big literals,
    # and a broadcast stays a broadcast (so graph sizes do not depend on sizes).
    if any(isinstance(d, str) for d in shape):
        return False
    size = int(np.prod(shape, dtype=np.int64))
    return size <= 64 and size <= sum(i.attr("value").array.size for i in inputs)


def constant(value: Any, dtype: str | None = None) -> Node:
    """A constant node holding ``value`` (Python scalar or array)."""
    array = np.asarray(value, dtype=dtype)
    if array.dtype == np.float16 or array.dtype.kind not in "biuf":
        raise TypeError(f"constant: unsupported value of dtype {array.dtype}")
    if array.dtype.kind == "u" or array.dtype.itemsize < 4 and array.dtype.kind != "b":
        array = array.astype(np.int64 if array.dtype.kind in "iu" else np.float32)
    return Node("constant", (), {"value": FrozenArray(array)}, tuple(array.shape), array.dtype.name)


def constant_value(node: Node) -> np.ndarray | None:
    """The array of a constant node, else None."""
    return node.attr("value").array if node.op == "constant" else None


def is_constant(node: Node, scalar: float) -> bool:
    """True when ``node`` is a constant whose every entry equals ``scalar``."""
    value = constant_value(node)
    return value is not None and value.size > 0 and bool(np.all(value == scalar))
