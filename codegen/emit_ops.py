"""Sections that are not fused loops: views (index arithmetic only), matmul, index ops, copies."""

from __future__ import annotations

from collections.abc import Callable

from symdiff.ir import Dim, Node
from symdiff.ops.indexing import out_of_range_message
from symdiff.ops.random import GOLDEN, MIX1, MIX2

from .arrays import view
from .context import Context
from .emit_loops import Body, Lines, fill, open_loops


def emit_view(ctx: Context, node: Node, lines: Lines) -> set[int] | None:
    """reshape / transpose / slice: a new ref over the input's memory (no code at all: returns None);
    check_index: the same memory, read once by a loop that checks every index (returns what it reads)."""
    (base,) = node.inputs
    ctx.refs[id(node)] = view(node, ctx.refs[id(base)], ctx.shape_expr(node.shape))
    if node.op != "check_index":
        return None
    lines.append(f"    # {ctx.describe(node)}: every index in [0, {node.attr('bound')})")
    idx, indent = open_loops(ctx, node.shape, lines)
    _checked_index(ctx.read(base, node.shape, idx), str(node.attr("bound")),
                   out_of_range_message(node.attr("op"), node.attr("axis"), node.attr("bound")), lines, indent)
    return {id(base)}


def emit_matmul(ctx: Context, node: Node, lines: Lines) -> set[int]:
    """``gemm`` (module prelude) per matrix of the batch: BLAS for C/F-contiguous operands, else loops."""
    a, b = node.inputs
    lines.append(f"    # matmul {ctx.describe(node)} = {ctx.describe(a)} @ {ctx.describe(b)}")
    batch_shape = node.shape[:-2]
    bidx, indent = open_loops(ctx, batch_shape, lines)
    # Integers go through np.int64 so every call shares one specialization (literals would each compile one).
    def integer(expr: str) -> str:
        return f"np.int64({expr})"

    args = []
    for operand in (a, b):
        ref = ctx.refs[id(operand)]
        lead = len(batch_shape) - (operand.ndim - 2)
        index = [None if d == 1 and batch_shape[lead + k] != 1 else bidx[lead + k]
                 for k, d in enumerate(operand.shape[:-2])]
        args += [ref.buffer, *map(integer, (ref.offset_at(index + [None, None]), ref.strides[-2], ref.strides[-1]))]
    out = ctx.refs[id(node)]
    dims = (a.shape[-2], a.shape[-1], b.shape[-1])
    args += [out.buffer, integer(out.offset_at(list(bidx) + [None, None])), *(integer(ctx.dim(d)) for d in dims)]
    lines.append(f"{indent}gemm({', '.join(args)})")
    return {id(a), id(b)}


def _checked_label(ctx: Context, node: Node, labels: Node, space: tuple, idx: list[str], size: Dim, lines: Lines,
                   indent: str) -> None:
    """``_j`` = the label at this position, checked to lie in [0, size) (negative labels do not wrap)."""
    message = out_of_range_message(node.op, node.attr("axis"), size)
    _checked_index(ctx.read(labels, space, idx), ctx.dim(size), message, lines, indent)


def _checked_index(value: str, size: str, message: str, lines: Lines, indent: str) -> None:
    lines += [f"{indent}_j = {value}", f"{indent}if _j < 0 or _j >= {size}:",
              f"{indent}    raise IndexError({message!r})"]


def _with(idx: list[str], axis: int, value: str) -> list[str]:
    return [value if a == axis else i for a, i in enumerate(idx)]


def emit_index(ctx: Context, node: Node, lines: Lines) -> set[int]:
    """Gather/scatter by labels, slice padding, concatenation, copies of strided views, random numbers."""
    lines.append(f"    # {ctx.describe(node)}")
    out = ctx.refs[id(node)]
    if node.op == "random_uniform":
        return _emit_random(ctx, node, lines)
    if node.op in ("scatter_add", "pad_slice"):
        fill(ctx, node, "0", lines)
    if node.op == "reshape":  # of a strided view: copy its elements in C order
        return emit_copy(ctx, node.inputs[0], out.flat, lines)
    if node.op == "take_along_axis":
        x, labels = node.inputs
        axis = node.attr("axis")
        idx, indent = open_loops(ctx, node.shape, lines)
        _checked_label(ctx, node, labels, node.shape, idx, x.shape[axis], lines, indent)
        lines.append(f"{indent}{ctx.write(node, idx)} = {ctx.refs[id(x)].element(_with(idx, axis, '_j'))}")
        return {id(x), id(labels)}
    if node.op == "scatter_add":
        g, labels = node.inputs
        axis = node.attr("axis")
        idx, indent = open_loops(ctx, g.shape, lines)
        _checked_label(ctx, node, labels, g.shape, idx, node.shape[axis], lines, indent)
        lines.append(f"{indent}{out.element(_with(idx, axis, '_j'))} += {ctx.read(g, g.shape, idx)}")
        return {id(g), id(labels)}
    if node.op == "pad_slice":
        (g,) = node.inputs
        idx, indent = open_loops(ctx, g.shape, lines)
        where = [f"{start} + {step} * {i}" for (start, _, step), i in zip(node.attr("index"), idx)]
        lines.append(f"{indent}{out.element(where)} = {ctx.read(g, g.shape, idx)}")
        return {id(g)}
    if node.op == "concatenate":
        axis, offset = node.attr("axis"), 0
        for part in node.inputs:
            idx, indent = open_loops(ctx, part.shape, lines)
            lines.append(f"{indent}{out.element(_with(idx, axis, f'{offset} + {idx[axis]}'))}"
                         f" = {ctx.read(part, part.shape, idx)}")
            offset += part.shape[axis]
        return {id(p) for p in node.inputs}
    raise NotImplementedError(f"codegen: no lowering for op {node.op!r}")


def _emit_random(ctx: Context, node: Node, lines: Lines) -> set[int]:
    (seed,) = node.inputs
    seed_body = Body(ctx, (), [], lines, "    ")
    seed_value = seed_body.expr(seed)
    lines += [
        f"    _base = np.uint64({seed_value}) * np.uint64({GOLDEN}) + np.uint64(1)",
        f"    for _p in range({ctx.size_expr(node.shape)}):",
        "        _z = _base + np.uint64(_p)",
        f"        _z = (_z ^ (_z >> np.uint64(30))) * np.uint64({MIX1})",
        f"        _z = (_z ^ (_z >> np.uint64(27))) * np.uint64({MIX2})",
        "        _z = _z ^ (_z >> np.uint64(31))",
        f"        {ctx.refs[id(node)].flat('_p')} = np.float64(_z >> np.uint64(11)) * (1.0 / 9007199254740992.0)",
    ]
    return seed_body.reads


def emit_copy(ctx: Context, node: Node, write_flat: Callable[[str], str], lines: Lines) -> set[int]:
    """Copy ``node``'s elements (any strides) in C order; ``write_flat(p)`` names element ``p`` of the target."""
    lines.append("    _p = 0")
    idx, indent = open_loops(ctx, node.shape, lines)
    lines += [f"{indent}{write_flat('_p')} = {ctx.read(node, node.shape, idx)}", f"{indent}_p += 1"]
    return {id(node)}
