"""Naming and addressing shared by the emitters: parameters, dims, locals, array elements (as kernel IR)."""

from __future__ import annotations

import copy

from symdiff.ir import Node, NodeMap
from symdiff.ops import tensor

from . import kir
from .arrays import ArrayRef, contiguous
from .plan import Plan, inlines


class Context:
    """Per-compilation naming: every node gets a stable number from the schedule order.

    ``refs`` maps array nodes to :class:`ArrayRef` s: inputs read through their flat buffers (an input
    ``x`` of one dim is the buffer ``x``; of other ranks, ``_x``), intermediates at offsets ``_a<k>`` of the
    workspace ``_ws_<dtype>``, returned arrays in their own buffers ``_out<k>``, constants in ``_k<k>``.
    Named dims are the kernel's int64 parameters ``_d<k>``.
    """

    def __init__(self, plan: Plan, inputs: list[Node], outputs: list[Node], fresh: dict[int, int],
                 fuse: bool = True) -> None:
        self.plan = plan
        self.fuse = fuse  # loop bodies are scheduled as the kernel is
        self.number = {id(n): k for k, n in enumerate(plan.order)}
        self._expanded: list[Node] = []
        self.inputs = inputs
        self.dims: dict[str, kir.Var] = {}
        for node in inputs:
            for d in node.shape:
                if isinstance(d, str) and d not in self.dims:
                    self.dims[d] = kir.Var(f"_d{len(self.dims)}", "int64")
        self.refs: NodeMap[ArrayRef] = NodeMap()  # holds its nodes: loops make and drop nodes while emitting
        self.workspaces: dict[str, kir.Array] = {}
        #: 0-d inputs are passed by value, except update targets: those arrive as 1-element arrays.
        self.by_value = {id(n) for n in inputs if n.shape == ()} - {id(t) for t in plan.update_targets}
        # a matrix is read through a flat view, named apart from the kernel's own variables (_i0, _d0, _p, ...)
        self.flat = {id(n): kir.Array(n.name if n.ndim == 1 else f"_flat_{n.name}", n.dtype) for n in inputs
                     if id(n) not in self.by_value}
        for node in inputs:
            if id(node) in self.flat:
                self.refs[node] = contiguous(self.flat[id(node)], kir.index(0), self.shape_expr(node.shape))
        # By-value scalars that a view, a matmul or an index op reads are also stored in the workspace.
        array_reads = {id(i) for n in plan.order if n.op != "count" and not inlines(n) for i in n.inputs}
        self.stored_scalars = [n for n in inputs if id(n) in self.by_value and id(n) in array_reads]
        #: One returned buffer per output; a node in ``fresh`` (id -> position) is computed straight into its own.
        self.outputs = [kir.Array(f"_out{k}", node.dtype) for k, node in enumerate(outputs)]
        #: Arrays and constants of loop bodies (emit_scan.py), which the memory plan and the kernel also place.
        self.nested_arrays: list[Node] = []
        self.nested_constants: list[Node] = []
        self.nested_row_local: set[int] = set()
        self._place(plan, fresh, nested=False)
        for node in self.stored_scalars:
            self.refs[node] = contiguous(self.workspace(node.dtype), self.offset(node), ())

    def _place(self, plan: Plan, fresh: dict[int, int], nested: bool) -> None:
        """Refs for the computed arrays and constants of ``plan`` that have none yet."""
        for node in plan.order:
            if id(node) in plan.arrays and node not in self.refs and node.op != "input" and \
                    id(node) not in plan.unstored:
                if node.op == "constant":
                    buffer, offset = kir.Array(self.name(node, "_k"), node.dtype), kir.index(0)
                elif id(node) in fresh:
                    buffer, offset = self.outputs[fresh[id(node)]], kir.index(0)
                elif id(node) in plan.stored_in_targets:  # an update value living in its parameter's memory
                    self.refs[node] = self.refs[plan.stored_in_targets[id(node)]]
                    continue
                else:
                    buffer, offset = self.workspace(node.dtype), self.offset(node)
                ref = contiguous(buffer, offset, self.shape_expr(node.shape))
                if id(node) in plan.row_local:  # one row reused for every row
                    ref = ArrayRef(ref.buffer, ref.offset, ref.shape, (kir.index(0),) + ref.strides[1:])
                self.refs[node] = ref
                if nested:
                    (self.nested_constants if node.op == "constant" else self.nested_arrays).append(node)
                    if id(node) in plan.row_local:
                        self.nested_row_local.add(id(node))

    def nested(self, plan: Plan, bound: list[tuple[Node, ArrayRef]]) -> Context:
        """The context of a loop body's schedule inside this kernel: the same names, dims, workspaces and refs, the
        body's leaves read through ``bound`` and its own arrays placed in the workspace (recorded for the memory
        plan). Body nodes must be the loop's own (emit_scan.py binds each loop's body to leaves of its own)."""
        for leaf, ref in bound:
            self.refs[leaf] = ref
        child = copy.copy(self)
        child.plan = plan
        child._place(plan, {}, nested=True)
        return child

    def scratch(self, name: str, shape: tuple, dtype: str) -> ArrayRef:
        """A workspace array of the section being emitted (a copy in another layout, a loop's carry buffers),
        placed by the memory plan; ``name`` must be unique in the kernel (built from a node number)."""
        array = tensor(name, shape, dtype)
        self.nested_arrays.append(array)
        self.refs[array] = contiguous(self.workspace(dtype), self.offset(array), self.shape_expr(shape))
        return self.refs[array]

    def is_row_local(self, node: Node) -> bool:
        return id(node) in self.plan.row_local or id(node) in self.nested_row_local

    def workspace(self, dtype: str) -> kir.Array:
        if dtype not in self.workspaces:
            self.workspaces[dtype] = kir.Array(f"_ws_{dtype}", dtype)
        return self.workspaces[dtype]

    def name(self, node: Node, prefix: str) -> str:
        if id(node) not in self.number:  # a node of an op's expansion (scalar.py): numbered when first met
            self.number[id(node)] = len(self.number)
            self._expanded.append(node)  # kept alive, so its id is never reused during this compilation
        return f"{prefix}{self.number[id(node)]}"

    def offset(self, node: Node) -> kir.Var:
        """The variable holding ``node``'s offset in its workspace."""
        return kir.Var(self.name(node, "_a"), "int64")

    def local(self, node: Node) -> kir.Var:
        """The loop-body variable holding one element of ``node``."""
        return kir.Var(self.name(node, "_v"), node.dtype)

    def scalar_param(self, node: Node) -> kir.Var:
        return kir.Var(node.name, node.dtype)

    def dim(self, d) -> kir.Expr:
        return kir.index(d) if isinstance(d, int) else self.dims[d]

    def shape_expr(self, shape: tuple) -> tuple[kir.Expr, ...]:
        return tuple(self.dim(d) for d in shape)

    def size_expr(self, shape: tuple) -> kir.Expr:
        return kir.product(*self.shape_expr(shape))

    def is_scalar_input(self, node: Node) -> bool:
        return id(node) in self.by_value

    def read(self, node: Node, space: tuple, idx: list[kir.Expr]) -> kir.Expr:
        """``node``'s element at loop position ``idx`` over ``space`` (broadcast dims contribute 0)."""
        if self.is_scalar_input(node):
            return self.scalar_param(node)
        lead = len(space) - len(node.shape)
        index = [None if d == 1 and space[lead + a] != 1 else idx[lead + a] for a, d in enumerate(node.shape)]
        return self.refs[node].load(index)

    def write(self, node: Node, idx: list[kir.Expr], value: kir.Expr) -> kir.Store:
        """Store ``value`` as the element of ``node``'s own array (or its update target) at ``idx``."""
        target = self.plan.inplace_updates.get(id(node), node)
        return self.refs[target].store(list(idx), value)

    def describe(self, node: Node) -> str:
        """A short comment naming a node: its number, op and shape."""
        name = f" {node.name}" if node.op == "input" else ""
        return f"{self.name(node, 'n')} {node.op}{name} {node.shape}"

