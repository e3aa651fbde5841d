"""Loops over steps (``scan`` siblings) as kernel IR: the body's own schedule emitted inside one ``for`` loop.

Nothing is copied per step that the body can write in place. Each carry has two buffers (one workspace array of
two rows): step t reads row t % 2 and the body computes the new carry straight into the other row, so a body
that swaps or mixes carries still reads the old values; a carry the body never reads and that is only returned
after each step (a derivative loop's cotangent of a sequence) has no buffers: it is computed straight into the
step's row of the returned array. Body values a derivative loop reads are computed straight into the step's row of
their stacked array. Sequences are read through a view at the step's row and outside values through their
arrays (either is copied into C order once, before the loop, when in another layout). What stays a copy: the
carries returned at every step (``before``/``after``) and a body value that is also another carry or value (one
array, one place).
"""

from __future__ import annotations

from collections.abc import Callable

from symdiff.autodiff.scan import needed_carries, substitute
from symdiff.ir import Node, toposort
from symdiff.ops import tensor

from . import kir
from .arrays import ArrayRef, is_contiguous
from .context import Context
from .emit_ops import copied, emit_copy
from .plan import VIEW_OPS, Section, plan
from .wide_sums import widen_sums

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
    made: dict[int, Node] = {}
    body = widen_sums(substitute([attrs["body"][k] for k in need] + [node.attr("output") for node in residuals],
                                 dict(zip(map(id, params), leaves)), made))
    roots = {k: _computed(r, number) for k, r in zip(need, body)}
    stored = {id(node): _computed(r, number) for node, r in zip(residuals, body[len(need):])}
    schedule = plan(list(roots.values()) + list(stored.values()), [], ctx.fuse)
    steps = ctx.dim(attrs["length"])
    t = kir.Var(f"_t{number}", "int64")
    step = kir.Var(f"_s{number}", "int64")
    # a carry the body never reads and only returned stacked (a sequence's cotangent) goes straight to its row
    read = {id(n) for n in toposort(body)}
    stacked = {node.attr("output"): node for node in section.nodes if node.attr("mode") == "after"}
    other = {node.attr("output") for node in section.nodes if node.attr("mode") in ("before", "final")}
    direct = {k: stacked[k] for k in need if k in stacked and k not in other and id(leaves[k]) not in read}
    pairs = {k: _carry_buffers(ctx, leaves[k]) for k in need if k not in direct}
    parity = _parity(t)
    after = {k: _row(ctx.refs[direct[k]], step) if k in direct else _row(pairs[k], kir.op("sub", kir.index(1), parity))
             for k in need}  # where step t's new carry goes
    for k in pairs:
        ctx.refs[leaves[k]] = _row(pairs[k], parity)
    # computed in place: a body value of this loop's own (one not depending on its leaves may be another loop's
    # too), at one place only
    own = {id(n) for n in made.values()} | {id(r) for r in list(roots.values()) + list(stored.values())
                                            if r.attr("loop") == number}
    placed: set[int] = set()
    copies: list[tuple[Node, ArrayRef]] = []
    targets = [(roots[k], after[k]) for k in need] + [(stored[id(n)], _row(ctx.refs[n], step)) for n in residuals]
    for value, target in targets:
        if id(value) in own and id(value) not in placed:
            ctx.refs[value] = target
            placed.add(id(value))
        else:
            copies.append((value, target))
    # a sequence in another layout (a time-major view of batch-major data) is copied into C order first: the body's
    # plan takes each element for an array in C order (a reshape of it is a view)
    sequences = []
    for j, s in enumerate(first.inputs[n:n + m]):
        ref = ctx.refs[s]
        sequences.append(ref if is_contiguous(ref) else copied(ctx, first, f"seq{j}_", ref, s.shape, s.dtype, (), out))
    bound = [(leaves[n + j], _row(ref, step)) for j, ref in enumerate(sequences)]
    # so is an outside value in another layout (Uᵀ of backpropagation through time): BLAS multiplies a transposed
    # operand far slower at a step's sizes, and one copy serves every step
    for j, (leaf, v) in enumerate(zip(leaves[n + m:], first.inputs[n + m:])):
        ref = ctx.refs[v]
        if not is_contiguous(ref):
            ref = copied(ctx, first, f"outside{j}_", ref, v.shape, v.dtype, (), out)
        bound.append((leaf, ref))
    inner = ctx.nested(schedule, bound)
    out.emit(kir.Comment(f"loop over {attrs['length']} steps{' backwards' if attrs['reverse'] else ''}: "
                         + ", ".join(ctx.describe(node) for node in section.nodes)))
    for k in pairs:
        emit_copy(ctx, first.inputs[k], _row(pairs[k], kir.index(0)), out)
    with out.loop(t, kir.index(0), steps):
        backwards = kir.op("sub", kir.add(steps, kir.index(-1)), t)
        out.emit(kir.Let(step, backwards if attrs["reverse"] else t))
        _store_rows(ctx, section, dict(enumerate(leaves)), step, "before", out)
        for part in schedule.sections:
            emit_section(inner, part, out)
        for value, target in copies:
            emit_copy(inner, value, target, out)
        _store_rows(inner, section, {k: r for k, r in roots.items() if k not in direct}, step, "after", out)
    for k in pairs:  # after the loop the carries are in row steps % 2
        ctx.refs[leaves[k]] = _row(pairs[k], _parity(steps))
    for node in section.nodes:
        if node.attr("mode") == "final":
            emit_copy(ctx, leaves[node.attr("output")], ctx.refs[node], out)
    return {id(i) for i in first.inputs}


def _parity(n: kir.Expr) -> kir.Expr:
    """``n % 2`` of an int64 (folded for a constant)."""
    return kir.index(n.value & 1) if isinstance(n, kir.Const) else kir.op("bitand", n, kir.index(1))


def _carry_buffers(ctx: Context, leaf: Node) -> ArrayRef:
    """The two buffers of carry ``leaf``: one workspace array of two rows, placed by the memory plan."""
    return ctx.scratch(f"{leaf.name}_buffers", (2,) + leaf.shape, leaf.dtype)


def _store_rows(ctx: Context, section: Section, carries: dict[int, Node], step: kir.Expr, mode: str,
                out: kir.Builder) -> None:
    """Store the ``carries`` (by number: the leaves before the step, the new values after it) that the nodes of
    ``mode`` ("before"/"after" the step) return at the step's row."""
    for node in section.nodes:
        if node.attr("mode") == mode and node.attr("output") in carries:
            emit_copy(ctx, carries[node.attr("output")], _row(ctx.refs[node], step), out)
