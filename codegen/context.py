"""Naming and small lowering helpers shared by the emitters: variables, dims, literals, array reads."""

from __future__ import annotations

import numpy as np

from symdiff.ir import Node

from .plan import Plan

NUMPY_TYPE = {"float64": "np.float64", "float32": "np.float32", "int64": "np.int64", "int32": "np.int32",
              "bool": "np.bool_"}


class Context:
    """Per-compilation naming: every node gets a stable number from the schedule order."""

    def __init__(self, plan: Plan, inputs: list[Node]) -> None:
        self.plan = plan
        self.number = {id(n): k for k, n in enumerate(plan.order)}
        self.inputs = inputs
        self.input_names = {id(n): (n.name if not n.name.startswith("_") else "in" + n.name) for n in inputs}
        self.dims: dict[str, str] = {}  # named dim -> kernel variable
        for node in inputs:
            for d in node.shape:
                if isinstance(d, str) and d not in self.dims:
                    self.dims[d] = f"_d{len(self.dims)}"
        self.layout: dict[int, str] = {id(n): "C" for n in inputs}  # "C", "T" (last two axes swapped), "A"
        self.array_names: dict[int, str] = dict(self.input_names)
        self.transposed_of: dict[int, Node] = {}  # transpose view id -> its base (for ``base.T`` operands)
        self.output_alias: dict[int, str] = {}  # output id -> fresh copy returned instead of a view/input

    def var(self, node: Node, prefix: str = "_v") -> str:
        return f"{prefix}{self.number[id(node)]}"

    def array(self, node: Node) -> str:
        """The kernel variable holding ``node``'s array (scalars for 0-d inputs)."""
        if id(node) not in self.array_names:
            self.array_names[id(node)] = self.var(node, "_a")
        return self.array_names[id(node)]

    def update_target(self, value: Node) -> str:
        """The parameter array that an in-place update writes ``value`` into."""
        return self.array(self.plan.inplace_updates[id(value)])

    def dim_source(self, dim: str) -> str:
        """Where a named dim is read from: the first input that has it."""
        node = next(n for n in self.inputs if dim in n.shape)
        return f"{self.array(node)}.shape[{node.shape.index(dim)}]"

    def dim(self, d) -> str:
        return str(d) if isinstance(d, int) else self.dims[d]

    def shape_expr(self, shape: tuple) -> list[str]:
        return [self.dim(d) for d in shape]

    def size_expr(self, shape: tuple) -> str:
        """Element count as an expression (0-d arrays are stored with one element)."""
        const = int(np.prod([d for d in shape if isinstance(d, int)], dtype=np.int64))
        named = [self.dims[d] for d in shape if isinstance(d, str)]
        return " * ".join(named + ([str(const)] if const != 1 or not named else []))

    def tuple_expr(self, shape: tuple) -> str:
        parts = self.shape_expr(shape) or ["1"]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    def is_scalar_input(self, node: Node) -> bool:
        return node.op == "input" and node.shape == ()

    def read(self, node: Node, space: tuple, idx: list[str]) -> str:
        """``node``'s array element at loop position ``idx`` over ``space`` (broadcast dims read index 0)."""
        if self.is_scalar_input(node):
            return self.array(node)
        if node.shape == ():
            return f"{self.array(node)}[0]"
        lead = len(space) - len(node.shape)
        index = ["0" if d == 1 and space[lead + a] != 1 else idx[lead + a] for a, d in enumerate(node.shape)]
        return f"{self.array(node)}[{', '.join(index)}]"

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
