"""Sections that are not fused loops: matmul (BLAS or small loops), views, index ops, copies."""

from __future__ import annotations

from symdiff.ir import Node
from symdiff.ops.random import GOLDEN, MIX1, MIX2

from .context import Context
from .emit_loops import Body, Lines, open_loops

#: Below this many multiply-adds a generated loop beats a BLAS call's fixed cost.
SMALL_MATMUL = 4096


def emit_view(ctx: Context, node: Node, lines: Lines) -> set[int]:
    """reshape / transpose / slice as a view of the input array (no copy, no loop)."""
    (base,) = node.inputs
    src, out, layout = ctx.array(base), ctx.array(node), ctx.layout.get(id(base), "C")
    if node.op == "reshape":
        lines.append(f"    {out} = {src}.reshape({ctx.tuple_expr(node.shape)})  # {ctx.describe(node)}")
        ctx.layout[id(node)] = "C"
    elif node.op == "transpose":
        perm = node.attr("perm")
        swap_last = perm == tuple(range(len(perm) - 2)) + (len(perm) - 1, len(perm) - 2)
        text = f"{src}.T" if len(perm) == 2 else f"np.transpose({src}, {perm})"
        lines.append(f"    {out} = {text}  # {ctx.describe(node)}")
        ctx.layout[id(node)] = "T" if swap_last and layout == "C" else "A"
        ctx.transposed_of[id(node)] = base
    else:
        parts = [f"{a}:{'' if b is None else b}:{c}" for a, b, c in node.attr("index")]
        lines.append(f"    {out} = {src}[{', '.join(parts)}]  # {ctx.describe(node)}")
        ctx.layout[id(node)] = "A"
    return {id(base)}


def _operand(ctx: Context, node: Node, batch: list[str], space: tuple) -> str:
    """A 2-D matrix operand for np.dot: a C array, or the ``.T`` of one (F-contiguous, no copy)."""
    layout = ctx.layout.get(id(node), "C")
    lead = len(space) - (node.ndim - 2)
    index = ["0" if d == 1 and space[lead + a] != 1 else batch[lead + a] for a, d in enumerate(node.shape[:-2])]
    pick = f"[{', '.join(index)}]" if index else ""
    if layout == "T":
        return f"{ctx.array(ctx.transposed_of[id(node)])}{pick}.T"
    if layout == "C":
        return f"{ctx.array(node)}{pick}"
    return f"np.ascontiguousarray({ctx.array(node)}{pick})"


def emit_matmul(ctx: Context, node: Node, lines: Lines) -> set[int]:
    """BLAS GEMM into the output (``np.dot(a, b, out)``), or a loop nest when the product is tiny."""
    a, b = node.inputs
    out = ctx.array(node)
    batch_shape = node.shape[:-2]
    lines.append(f"    # matmul {ctx.describe(node)} = {ctx.describe(a)} @ {ctx.describe(b)}")
    bidx, indent = open_loops(ctx, batch_shape, lines, start=0)
    A, B = _operand(ctx, a, bidx, batch_shape), _operand(ctx, b, bidx, batch_shape)
    C = f"{out}[{', '.join(bidx)}]" if bidx else out
    m, k, n = ctx.dim(a.shape[-2]), ctx.dim(a.shape[-1]), ctx.dim(b.shape[-1])
    lines += [
        f"{indent}_A = {A}",
        f"{indent}_B = {B}",
        f"{indent}_C = {C}",
        f"{indent}if {m} * {k} * {n} <= {SMALL_MATMUL}:",
        f"{indent}    for _r in range({m}):",
        f"{indent}        for _c in range({n}):",
        f"{indent}            _C[_r, _c] = 0.0",
        f"{indent}        for _k in range({k}):",
        f"{indent}            _x = _A[_r, _k]",
        f"{indent}            for _c in range({n}):",
        f"{indent}                _C[_r, _c] += _x * _B[_k, _c]",
        f"{indent}else:",
        f"{indent}    np.dot(_A, _B, _C)",
    ]
    return {id(a), id(b), id(ctx.transposed_of.get(id(a), a)), id(ctx.transposed_of.get(id(b), b))}


def _axis_index(ctx: Context, idx: list[str], axis: int, value: str) -> str:
    return ", ".join(value if a == axis else i for a, i in enumerate(idx))


def _checked_label(ctx: Context, node: Node, labels: Node, space: tuple, idx: list[str], size: str, lines: Lines,
                   indent: str) -> None:
    """``_j`` = the label at this position, wrapped like NumPy's negative indices and range-checked."""
    lines.append(f"{indent}_j = {ctx.read(labels, space, idx)}")
    lines.append(f"{indent}if _j < 0:")
    lines.append(f"{indent}    _j += {size}")
    lines.append(f"{indent}if _j < 0 or _j >= {size}:")
    lines.append(f"{indent}    raise IndexError('{node.op}: an index is out of range for axis {node.attr('axis')}')")


def emit_index(ctx: Context, node: Node, lines: Lines) -> set[int]:
    """Gather/scatter by labels, slice padding, concatenation and counter-based random numbers."""
    out = ctx.array(node)
    lines.append(f"    # {ctx.describe(node)}")
    if node.op == "random_uniform":
        return _emit_random(ctx, node, lines)
    if node.op == "reshape":  # of a strided view: copy its elements in C order
        (x,) = node.inputs
        lines += [f"    _flat = {out}.reshape({ctx.size_expr(node.shape)})", "    _p = 0"]
        idx, indent = open_loops(ctx, x.shape, lines)
        lines += [f"{indent}_flat[_p] = {ctx.read(x, x.shape, idx)}", f"{indent}_p += 1"]
        return {id(x)}
    if node.op in ("scatter_add", "pad_slice"):
        lines.append(f"    {out}.reshape({ctx.size_expr(node.shape)})[:] = 0")
    if node.op == "take_along_axis":
        x, labels = node.inputs
        axis = node.attr("axis")
        idx, indent = open_loops(ctx, node.shape, lines)
        _checked_label(ctx, node, labels, node.shape, idx, ctx.dim(x.shape[axis]), lines, indent)
        lines.append(f"{indent}{out}[{', '.join(idx)}] = {ctx.array(x)}[{_axis_index(ctx, idx, axis, '_j')}]")
        return {id(x), id(labels)}
    if node.op == "scatter_add":
        g, labels = node.inputs
        axis = node.attr("axis")
        idx, indent = open_loops(ctx, g.shape, lines)
        _checked_label(ctx, node, labels, g.shape, idx, ctx.dim(node.shape[axis]), lines, indent)
        lines.append(f"{indent}{out}[{_axis_index(ctx, idx, axis, '_j')}] += {ctx.array(g)}[{', '.join(idx)}]")
        return {id(g), id(labels)}
    if node.op == "pad_slice":
        (g,) = node.inputs
        idx, indent = open_loops(ctx, g.shape, lines)
        where = [f"{start} + {step} * {i}" for (start, _, step), i in zip(node.attr("index"), idx)]
        lines.append(f"{indent}{out}[{', '.join(where)}] = {ctx.array(g)}[{', '.join(idx)}]")
        return {id(g)}
    if node.op == "concatenate":
        axis, offset = node.attr("axis"), 0
        for part in node.inputs:
            idx, indent = open_loops(ctx, part.shape, lines)
            lines.append(f"{indent}{out}[{_axis_index(ctx, idx, axis, f'{offset} + {idx[axis]}')}]"
                         f" = {ctx.array(part)}[{', '.join(idx)}]")
            offset += part.shape[axis]
        return {id(p) for p in node.inputs}
    raise NotImplementedError(f"codegen: no lowering for op {node.op!r}")


def _emit_random(ctx: Context, node: Node, lines: Lines) -> set[int]:
    (seed,) = node.inputs
    out = ctx.array(node)
    seed_body = Body(ctx, (), [], lines, "    ")
    seed_value = seed_body.expr(seed)
    lines += [
        f"    _flat = {out}.reshape({ctx.size_expr(node.shape)})",
        f"    _base = np.uint64({seed_value}) * np.uint64({GOLDEN}) + np.uint64(1)",
        "    for _p in range(_flat.size):",
        "        _z = _base + np.uint64(_p)",
        f"        _z = (_z ^ (_z >> np.uint64(30))) * np.uint64({MIX1})",
        f"        _z = (_z ^ (_z >> np.uint64(27))) * np.uint64({MIX2})",
        "        _z = _z ^ (_z >> np.uint64(31))",
        "        _flat[_p] = np.float64(_z >> np.uint64(11)) * (1.0 / 9007199254740992.0)",
    ]
    return seed_body.reads


def emit_copy(ctx: Context, node: Node, target: str, lines: Lines) -> set[int]:
    """Copy ``node``'s array (any layout) into the C-contiguous array ``target``."""
    idx, indent = open_loops(ctx, node.shape, lines)
    index = ", ".join(idx) if idx else "0"
    src = ctx.read(node, node.shape, idx) if node.shape else ctx.read(node, (), [])
    lines.append(f"{indent}{target}[{index}] = {src}")
    return {id(node)}
