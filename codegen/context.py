"""Naming and addressing shared by the emitters: variables, dims, literals, array elements."""

from __future__ import annotations

import numpy as np

from symdiff.ir import Node

from .arrays import ArrayRef, contiguous, product
from .plan import Plan, inlines

NUMPY_TYPE = {"float64": "np.float64", "float32": "np.float32", "int64": "np.int64", "int32": "np.int32",
              "bool": "np.bool_"}


class Context:
    """Per-compilation naming: every node gets a stable number from the schedule order.

    ``refs`` maps array node ids to :class:`ArrayRef` s: inputs read through flat aliases
    (``_f<k>``), intermediates at offsets of the workspace, returned arrays in fresh buffers.
    """

    def __init__(self, plan: Plan, inputs: list[Node], fresh: set[int]) -> None:
        self.plan = plan
        self.number = {id(n): k for k, n in enumerate(plan.order)}
        self.inputs = inputs
        self.dims: dict[str, str] = {}  # named dim -> kernel variable
        for node in inputs:
            for d in node.shape:
                if isinstance(d, str) and d not in self.dims:
                    self.dims[d] = f"_d{len(self.dims)}"
        self.refs: dict[int, ArrayRef] = {}
        #: 0-d inputs are passed by value, except update targets: those arrive as 1-element arrays.
        self.by_value = {id(n) for n in inputs if n.shape == ()} - {id(t) for t in plan.update_targets}
        for k, node in enumerate(inputs):
            if id(node) not in self.by_value:
                self.refs[id(node)] = contiguous(f"_f{k}", "0", self.shape_expr(node.shape))
        # By-value scalars that a view, a matmul or an index op reads are also stored in the workspace.
        array_reads = {id(i) for n in plan.order if n.op != "count" and not inlines(n) for i in n.inputs}
        self.stored_scalars = [n for n in inputs if id(n) in self.by_value and id(n) in array_reads]
        for node in self.stored_scalars:
            self.refs[id(node)] = contiguous(f"_ws_{node.dtype}", self.var(node, "_a"), ())
        for node in plan.order:
            if id(node) in plan.arrays and id(node) not in self.refs and node.op != "input":
                if node.op == "constant":
                    buffer, offset = self.var(node, "_k"), "0"
                elif id(node) in fresh:
                    buffer, offset = self.var(node, "_a"), "0"
                else:
                    buffer, offset = f"_ws_{node.dtype}", self.var(node, "_a")
                ref = contiguous(buffer, offset, self.shape_expr(node.shape))
                if id(node) in plan.row_local:  # one row reused for every row
                    ref = ArrayRef(ref.buffer, ref.offset, ref.shape, ("0",) + ref.strides[1:])
                self.refs[id(node)] = ref

    def var(self, node: Node, prefix: str = "_v") -> str:
        return f"{prefix}{self.number[id(node)]}"

    def param(self, node: Node) -> str:
        """The kernel parameter of an input (scalars are passed by value)."""
        return node.name

    def dim_source(self, dim: str) -> str:
        """Where a named dim is read from: the first input that has it."""
        node = next(n for n in self.inputs if dim in n.shape)
        return f"{self.param(node)}.shape[{node.shape.index(dim)}]"

    def dim(self, d) -> str:
        return str(d) if isinstance(d, int) else self.dims[d]

    def shape_expr(self, shape: tuple) -> tuple[str, ...]:
        return tuple(self.dim(d) for d in shape)

    def size_expr(self, shape: tuple) -> str:
        return product(list(self.shape_expr(shape)))

    def storage_size(self, node: Node) -> str:
        """Elements of ``node``'s workspace storage: one row for arrays local to a row group."""
        return self.size_expr(node.shape[1:] if id(node) in self.plan.row_local else node.shape)

    def tuple_expr(self, shape: tuple) -> str:
        parts = list(self.shape_expr(shape)) or ["1"]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def is_scalar_input(self, node: Node) -> bool:
        return id(node) in self.by_value

    def read(self, node: Node, space: tuple, idx: list[str]) -> str:
        """``node``'s element at loop position ``idx`` over ``space`` (broadcast dims contribute 0)."""
        if self.is_scalar_input(node):
            return self.param(node)
        lead = len(space) - len(node.shape)
        index = [None if d == 1 and space[lead + a] != 1 else idx[lead + a] for a, d in enumerate(node.shape)]
        return self.refs[id(node)].element(index)

    def write(self, node: Node, idx: list[str]) -> str:
        """The element of ``node``'s own array (or update target) at ``idx``."""
        target = self.plan.inplace_updates.get(id(node), node)
        return self.refs[id(target)].element(list(idx))

    def describe(self, node: Node) -> str:
        """A short comment naming a node: its number, op and shape."""
        name = f" {node.name}" if node.op == "input" else ""
        return f"n{self.number[id(node)]} {node.op}{name} {node.shape}"


def literal(value, dtype: str) -> str:
    """Source text for a scalar constant of ``dtype`` (exact: repr round-trips doubles)."""
    if dtype == "bool":
        return repr(bool(value))
    if dtype in ("int64", "int32"):
        return repr(int(value))
    v = float(value)
    text = "np.inf" if v == np.inf else "-np.inf" if v == -np.inf else "np.nan" if v != v else repr(v)
    return f"np.float32({text})" if dtype == "float32" else text

