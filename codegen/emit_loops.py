"""Loop nests for fused elementwise groups, in-place updates and reductions.

Inside a loop, every inlined node becomes one local assignment (``_v12 = tanh(_v11)``) so the
source reads like the graph; arrays are read with broadcasting indices.
"""

from __future__ import annotations

from symdiff.ir import Node
from symdiff.ops import OPS, constant_value
from symdiff.ops.reductions import empty_extremum_message

from .context import NUMPY_TYPE, Context, literal
from .plan import Section

Lines = list[str]
_IDENTITY = {"sum": "0", "max": "-np.inf", "min": "np.inf"}
_COMBINE = {"sum": "{0} + {1}", "max": "maximum({0}, {1})", "min": "minimum({0}, {1})"}
# Exponents computed without pow(): NumPy's own fast paths (2, 0.5, -1) plus 3, all equal to pow at
# +-0, +-inf and overflow. (1/(x*x) and 1/sqrt(x) are not: x = -0.0, -inf or 1e160 gave other values.)
#: Ops whose scalar code yields float64 for float32 arguments.
_WIDENING = frozenset({"exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus", "power", "sign"})
_POWERS = {2.0: "({0} * {0})", 3.0: "({0} * {0} * {0})", 0.5: "sqrt({0})", -1.0: "(1.0 / {0})"}


def scalar_code(node: Node, args: list[str]) -> str:
    """The scalar expression computing one element of ``node`` from its argument expressions."""
    if node.op == "cast":
        return f"({args[0]} != 0)" if node.dtype == "bool" else f"{NUMPY_TYPE[node.dtype]}({args[0]})"
    code = OPS[node.op].scalar.format(*args)
    if node.op == "power":
        exponent = constant_value(node.inputs[1])
        if exponent is not None and exponent.size == 1 and float(exponent.flat[0]) in _POWERS:
            code = _POWERS[float(exponent.flat[0])].format(args[0])
    # float32 results are rounded per op, as NumPy's are: these compute in float64 (the fast functions, 1.0 / x)
    return f"np.float32({code})" if node.dtype == "float32" and node.op in _WIDENING else code


class Body:
    """Emits the inlined expressions of one loop body, sharing subexpressions through a memo."""

    def __init__(self, ctx: Context, space: tuple, idx: list[str], lines: Lines, indent: str) -> None:
        self.ctx, self.space, self.idx, self.lines, self.indent = ctx, space, idx, lines, indent
        self.memo: dict[int, str] = {}
        self.reads: set[int] = set()

    def expr(self, node: Node) -> str:
        if id(node) in self.memo:
            return self.memo[id(node)]
        ctx = self.ctx
        if id(node) in ctx.plan.arrays or ctx.is_scalar_input(node):
            self.reads.add(id(node))
            text = ctx.read(node, self.space, self.idx)
        elif node.op == "constant":
            text = literal(constant_value(node).item(), node.dtype)
        elif node.op == "count":
            text = self.count(node)
        else:
            code = scalar_code(node, [self.expr(i) for i in node.inputs])
            text = ctx.var(node)
            self.lines.append(f"{self.indent}{text} = {code}  # {ctx.describe(node)}")
        self.memo[id(node)] = text
        return text


    def count(self, node: Node) -> str:
        """The value of an element count: the product of the counted dims."""
        counted = tuple(node.inputs[0].shape[a] for a in node.attr("axes"))
        return f"{NUMPY_TYPE[node.dtype]}({self.ctx.size_expr(counted)})"


def open_loops(ctx: Context, shape: tuple, lines: Lines, indent: str = "    ", start: int = 0) -> tuple[list, str]:
    """Nested ``for`` loops over ``shape``; returns the index variables and the body indent."""
    idx = []
    for k, d in enumerate(ctx.shape_expr(shape)):
        if d == "1":  # a unit dim needs no loop: index 0
            idx.append("0")
            continue
        lines.append(f"{indent}for _i{start + k} in range({d}):")
        idx.append(f"_i{start + k}")
        indent += "    "
    return idx, indent


def emit_elementwise(ctx: Context, section: Section, lines: Lines, indent: str = "    ",
                     bound: tuple[str, ...] = ()) -> set[int]:
    """One loop nest computing every node of the section into its array (or its update target).

    ``bound``: index variables of enclosing loops already open (a row group's row index), at ``indent``.
    """
    names = ", ".join(ctx.describe(n) for n in section.nodes)
    lines.append(f"{indent}# fused elementwise {section.shape}: {names}")
    idx, indent = open_loops(ctx, section.shape[len(bound):], lines, indent, start=len(bound))
    idx = [*bound, *idx]
    body = Body(ctx, section.shape, idx, lines, indent)
    results = [_root_expr(body, n) for n in section.nodes]
    for node, value in zip(section.nodes, results):
        lines.append(f"{indent}{ctx.write(node, idx)} = {value}")
    return body.reads


def _root_expr(body: Body, node: Node) -> str:
    """Expression of a section's own node: computed from its inputs even though it is an array."""
    code = body.count(node) if node.op == "count" else scalar_code(node, [body.expr(i) for i in node.inputs])
    var = body.ctx.var(node)
    body.lines.append(f"{body.indent}{var} = {code}  # {body.ctx.describe(node)}")
    body.memo[id(node)] = var
    return var


def emit_reduction(ctx: Context, section: Section, lines: Lines, indent: str = "    ",
                   bound: tuple[str, ...] = ()) -> set[int]:
    """``sum``/``max``/``min`` over axes of an inlined expression, accumulating trailing axes in a scalar.

    ``bound`` and ``indent`` as for :func:`emit_elementwise`.
    """
    (node,) = section.nodes
    (source,) = node.inputs
    axes, keepdims = node.attr("axes"), node.attr("keepdims")
    n = source.ndim
    split = n
    while split > 0 and split - 1 in axes:
        split -= 1
    outer_reduced = any(a < split for a in axes)
    lines.append(f"{indent}# {node.op} over axes {axes}: {ctx.describe(node)} of {ctx.describe(source)}")
    reduced = [source.shape[a] for a in axes]
    if node.op != "sum" and any(isinstance(d, str) for d in reduced):  # a named dim may be 0 at run time
        message = empty_extremum_message(node.op, axes, source.shape)
        lines += [f"{indent}if {ctx.size_expr(tuple(reduced))} == 0:", f"{indent}    raise ValueError({message!r})"]
    if outer_reduced:
        fill(ctx, node, _IDENTITY[node.op], lines)
    idx, indent = open_loops(ctx, source.shape[len(bound):split], lines, indent, start=len(bound))
    idx = [*bound, *idx]
    lines.append(f"{indent}_acc = {_identity(node)}")
    inner, inner_indent = open_loops(ctx, source.shape[split:], lines, indent, start=split)
    body = Body(ctx, source.shape, idx + inner, lines, inner_indent)
    value = body.expr(source)
    lines.append(f"{inner_indent}_acc = {_COMBINE[node.op].format('_acc', value)}")
    kept = [("0" if keepdims else None) if a in axes else i for a, i in enumerate(idx)]
    out_idx = [i for i in kept if i is not None] + (["0"] * (n - split) if keepdims else [])
    target = ctx.write(node, out_idx)
    combined = _COMBINE[node.op].format(target, "_acc") if outer_reduced else "_acc"
    lines.append(f"{indent}{target} = {combined}")
    return body.reads


def _identity(node: Node) -> str:
    if node.op == "sum":
        return "0" if node.dtype in ("int64", "int32") else literal(0.0, node.dtype)
    return _IDENTITY[node.op] if node.dtype.startswith("float") else str(
        -(2**63) if node.op == "max" else 2**63 - 1)


def fill(ctx: Context, node: Node, value: str, lines: Lines) -> None:
    """Set every element of ``node``'s (contiguous) array to ``value``."""
    lines.append(f"    for _p in range({ctx.size_expr(node.shape)}):")
    lines.append(f"        {ctx.refs[id(node)].flat('_p')} = {value}")


def emit_rows(ctx: Context, section: Section, lines: Lines) -> set[int]:
    """A row group (rows.py): one loop over the rows running each member's loop nest as a pass over the row."""
    (rows,) = ctx.shape_expr(section.shape)
    kinds = ", ".join(f"{m.kind} {'/'.join(n.op for n in m.nodes)}" for m in section.members)
    lines.append(f"    # row-fused passes over each of {rows} rows: {kinds}")
    lines.append(f"    for _i0 in range({rows}):")
    reads: set[int] = set()
    for member in section.members:
        emit = emit_elementwise if member.kind == "elementwise" else emit_reduction
        reads |= emit(ctx, member, lines, "        ", ("_i0",))
    return reads
