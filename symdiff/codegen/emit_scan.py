"""Loops over steps (``scan`` siblings) as kernel IR: the body's own schedule emitted inside one ``for`` loop.

The carries live in workspace buffers (one per carry the requested ones need); each step reads them, the body's
sections compute every new carry into its own array, and only then are the carries overwritten (so a body that
swaps or mixes carries reads the old values), and the stacked results stored at the step's row. Sequences are read
through a view at the step's row, outside values through their arrays, so nothing is copied per step but the
carries.
"""

from __future__ import annotations

from collections.abc import Callable

from symdiff.autodiff.scan import needed_carries, substitute
from symdiff.ir import Node
from symdiff.ops import tensor

from . import kir
from .arrays import ArrayRef, contiguous
from .context import Context
from .emit_ops import emit_copy
from .plan import VIEW_OPS, Section, plan

#: ``(ctx, section, out) -> ids read, or None for a view``: the module's section dispatcher.
EmitSection = Callable[[Context, Section, kir.Builder], "set[int] | None"]


def _computed(root: Node, number: str) -> Node:
    """A body result as a node the body's schedule stores in an array of its own (not an alias of a carry, and
    not a node another loop's body could share: the copy is marked with the loop's number)."""
    if root.op in ("input", "constant") or root.op in VIEW_OPS:
        return Node("stop_gradient", (root,), {"loop": number}, root.shape, root.dtype)
    return root


def _row(ref: ArrayRef, step: kir.Expr) -> ArrayRef:
    """Row ``step`` of ``ref`` along its leading axis."""
    return ArrayRef(ref.buffer, kir.add(ref.offset, kir.mul(step, ref.strides[0])), ref.shape[1:], ref.strides[1:])


def emit_scan(ctx: Context, section: Section, out: kir.Builder, emit_section: EmitSection) -> set[int]:
    """The loop computing every scan node of ``section`` (siblings: same inputs and body)."""
    first = section.nodes[0]
    attrs = first.attr_dict
    n, m = attrs["carries"], attrs["sequences"]
    params = attrs["params"]
    number = ctx.name(first, "")
    residuals = [node for node in section.nodes if node.attr("mode") == "residual"]
    carried = {node.attr("output") for node in section.nodes if node.attr("mode") != "residual"}
    need = needed_carries(attrs, carried, [node.attr("output") for node in residuals])
    # the body over leaves of this loop's own: its nodes are this loop's, whatever other loops' bodies look like
    leaves = [tensor(f"_loop{number}_{k}", p.shape, p.dtype) for k, p in enumerate(params)]
    body = substitute([attrs["body"][k] for k in need] + [node.attr("output") for node in residuals],
                      dict(zip(map(id, params), leaves)))
    roots = {k: _computed(r, number) for k, r in zip(need, body)}
    stored = {id(node): _computed(r, number) for node, r in zip(residuals, body[len(need):])}
    schedule = plan(list(roots.values()) + list(stored.values()), [], ctx.fuse)
    for k in need:  # the carries' buffers
        ctx.refs[leaves[k]] = contiguous(ctx.workspace(leaves[k].dtype), ctx.offset(leaves[k]),
                                         ctx.shape_expr(leaves[k].shape))
        ctx.nested_arrays.append(leaves[k])
    steps = ctx.dim(attrs["length"])
    t = kir.Var(f"_t{number}", "int64")
    step = kir.Var(f"_s{number}", "int64")
    bound = [(leaves[n + j], _row(ctx.refs[s], step)) for j, s in enumerate(first.inputs[n:n + m])]
    bound += [(leaf, ctx.refs[v]) for leaf, v in zip(leaves[n + m:], first.inputs[n + m:])]
    inner = ctx.nested(schedule, bound)
    out.emit(kir.Comment(f"loop over {attrs['length']} steps{' backwards' if attrs['reverse'] else ''}: "
                         + ", ".join(ctx.describe(node) for node in section.nodes)))
    for k in need:
        emit_copy(ctx, first.inputs[k], ctx.refs[leaves[k]], out)
    with out.loop(t, kir.index(0), steps):
        backwards = kir.op("sub", kir.add(steps, kir.index(-1)), t)
        out.emit(kir.Let(step, backwards if attrs["reverse"] else t))
        _store_rows(ctx, section, leaves, step, "before", out)
        for part in schedule.sections:
            emit_section(inner, part, out)
        for node in residuals:  # body values a derivative loop reads, stored at the step's row
            emit_copy(inner, stored[id(node)], _row(ctx.refs[node], step), out)
        for k in need:  # every new carry is computed before any carry is overwritten
            emit_copy(inner, roots[k], ctx.refs[leaves[k]], out)
        _store_rows(ctx, section, leaves, step, "after", out)
    for node in section.nodes:
        if node.attr("mode") == "final":
            emit_copy(ctx, leaves[node.attr("output")], ctx.refs[node], out)
    return {id(i) for i in first.inputs}


def _store_rows(ctx: Context, section: Section, carries: list[Node], step: kir.Expr, mode: str,
                out: kir.Builder) -> None:
    """Store the carries that the nodes of ``mode`` ("before"/"after" the step) return at the step's row."""
    for node in section.nodes:
        if node.attr("mode") == mode:
            emit_copy(ctx, carries[node.attr("output")], _row(ctx.refs[node], step), out)
