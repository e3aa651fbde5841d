"""Sections that are not fused loops: views (index arithmetic only), matmul, index ops, copies (kernel IR)."""

from __future__ import annotations

import dataclasses

from symdiff.ir import Dim, Node
from symdiff.ops import constant_value
from symdiff.ops.indexing import out_of_range_message
from symdiff.ops.random import GOLDEN, MIX1, MIX2

from . import kir
from .arrays import ArrayRef, is_contiguous, same_shape, view
from .context import Context
from .emit_loops import Body, copied, emit_elementwise, fill, loops
from .plan import Section, is_small_output_product


def emit_view(ctx: Context, node: Node, out: kir.Builder) -> set[int] | None:
    """reshape / transpose / slice: a new ref over the input's memory (no code at all: returns None);
    check_index: the same memory, read once by a loop that checks every index (returns what it reads)."""
    (base,) = node.inputs
    ctx.refs[node] = view(node, ctx.refs[base], ctx.shape_expr(node.shape))
    if node.op != "check_index":
        return None
    out.emit(kir.Comment(f"{ctx.describe(node)}: every index in [0, {node.attr('bound')})"))
    with loops(ctx, node.shape, out) as idx:
        _checked_index(ctx.read(base, node.shape, idx), kir.index(node.attr("bound")),
                       out_of_range_message(node.attr("op"), node.attr("axis"), node.attr("bound")), out)
    return {id(base)}


def emit_matmul(ctx: Context, node: Node, out: kir.Builder) -> set[int]:
    """``gemm`` per matrix of the batch: BLAS for C/F-contiguous operands, else loops (see blas.py); ``Bᵀ @ B``
    is a ``gram`` (one triangle by ``?syrk``)."""
    if node.op == "sum":
        return _emit_contraction(ctx, node, out)
    a, b = node.inputs
    out.emit(kir.Comment(f"matmul {ctx.describe(node)} = {ctx.describe(a)} @ {ctx.describe(b)}"))
    if is_small_output_product(node):
        _accumulate_product(ctx, node, out)
        return {id(a), id(b)}
    if node.ndim == 2 and (_transposes(a, b) or _transposes(b, a)):  # Bᵀ @ B or A @ Aᵀ: B is the right operand
        ref, target = ctx.refs[b], ctx.refs[node]
        out.emit(kir.Gram(ref.buffer, ref.offset_at([None, None]), (ref.strides[0], ref.strides[1]), target.buffer,
                          target.offset_at([None, None]), ctx.dim(b.shape[0]), ctx.dim(b.shape[1])))
        return {id(a), id(b)}
    single = _one_product(ctx, node, a, b, out)
    if single is not None:
        out.emit(single)
        return {id(a), id(b)}
    batch_shape = node.shape[:-2]
    with loops(ctx, batch_shape, out) as bidx:
        operands = []
        for operand in (a, b):
            ref = ctx.refs[operand]
            lead = len(batch_shape) - (operand.ndim - 2)
            index = [None if d == 1 and batch_shape[lead + k] != 1 else bidx[lead + k]
                     for k, d in enumerate(operand.shape[:-2])]
            operands.append((ref.buffer, ref.offset_at(index + [None, None]), (ref.strides[-2], ref.strides[-1])))
        target = ctx.refs[node]
        m, k, n = (ctx.dim(d) for d in (a.shape[-2], a.shape[-1], b.shape[-1]))
        out.emit(kir.Gemm(*operands[0], *operands[1], target.buffer, target.offset_at(list(bidx) + [None, None]),
                          m, k, n))
    return {id(a), id(b)}


def emit_product_update(ctx: Context, section: Section, out: kir.Builder) -> set[int]:
    """A parameter's update ``W - s * (A @ B)`` (plan's "product_update", inplace.product_updates) as one BLAS call
    adding ``-s * A @ B`` to W; when BLAS does not take the product (a small one, a layout BLAS cannot read), the
    product into its array and the update loop, as without the fusion."""
    product, value = section.nodes
    target = ctx.plan.inplace_updates[id(value)]
    scaled = value.inputs[1]
    scale = scaled.inputs[0] if scaled.inputs[1] is product else scaled.inputs[1]
    a, b = product.inputs
    fallback = kir.Builder()
    reads = emit_matmul(ctx, product, fallback) | emit_elementwise(ctx, Section("update", [value], value.shape),
                                                                   fallback)
    factor = Body(ctx, (), [], out)
    alpha = kir.op("neg", factor.expr(scale))
    into_product = next(s for s in fallback.statements if isinstance(s, kir.Gemm))  # the fallback's own call
    target_ref = ctx.refs[target]
    gemm = dataclasses.replace(into_product, c=target_ref.buffer, c_offset=target_ref.offset)
    out.emit(kir.Comment(f"update {target.name} <- {target.name} - {ctx.describe(scale)} * ({ctx.describe(a)} @ "
                         f"{ctx.describe(b)}): one BLAS call adds the product"))
    out.emit(kir.GemmUpdate(gemm, alpha, tuple(fallback.statements)))
    return reads | factor.reads | {id(a), id(b)}


def _accumulate_product(ctx: Context, node: Node, out: kir.Builder) -> None:
    """A small product (plan.is_small_output_product) as loops: each term's outer product of a column of A and a
    row of B added to the whole product in turn, which stays in registers or L1 while both operands stream."""
    a, b = (ctx.refs[i] for i in node.inputs)
    target = ctx.refs[node]
    rows, columns = (kir.index(d) for d in node.shape)
    k, i, j = kir.Var("_k", "int64"), kir.Var("_i0", "int64"), kir.Var("_i1", "int64")
    with out.loop(i, kir.index(0), rows), out.loop(j, kir.index(0), columns):  # the target's layout, whatever it is
        out.emit(target.store([i, j], kir.const(0, node.dtype)))
    with out.loop(k, kir.index(0), ctx.dim(node.inputs[0].shape[1])), out.loop(i, kir.index(0), rows):
        x = kir.Var(ctx.name(node, "_col"), node.dtype)  # A[i, k], for the whole row of the product
        out.emit(kir.Let(x, kir.cast(a.load([i, k]), node.dtype)))
        with out.loop(j, kir.index(0), columns):
            term = kir.op("mul", x, kir.cast(b.load([k, j]), node.dtype))
            out.emit(target.store([i, j], kir.op("add", target.load([i, j]), term)))


def _emit_contraction(ctx: Context, node: Node, out: kir.Builder) -> set[int]:
    """``sum(P @ Q)`` over every batch axis (plan.contracted_product) as one product over the flattened batch:
    ``A'[i, (l, j)] = P[l, i, j]`` and ``B'[(l, j), c] = Q[l, j, c]`` must be matrices with uniform strides,
    so an operand in another layout (a time-major view of batch-major inputs, say) is first copied into one:
    one pass over it instead of a product per batch matrix and a sum of their results."""
    a, b = node.inputs[0].inputs
    out.emit(kir.Comment(f"matmul {ctx.describe(node)} = Σ over the batch of {ctx.describe(a)} @ {ctx.describe(b)}"))
    lead = a.ndim - 2
    # layouts are read from the refs, not the graph: a loop body's leaf may be a row of a strided sequence
    if a.op == "transpose" and a.attr("perm") == tuple(range(lead)) + (lead + 1, lead) and \
            is_contiguous(ctx.refs[a.inputs[0]]):
        ra = ctx.refs[a]
    else:  # P with its last two axes exchanged, in C order: A' is the transpose of those rows
        copy = copied(ctx, node, "left", ctx.refs[a], a.shape, a.dtype, (lead, lead + 1), out)
        ra = ArrayRef(copy.buffer, copy.offset, copy.shape[:-2] + (copy.shape[-1], copy.shape[-2]),
                      copy.strides[:-2] + (copy.strides[-1], copy.strides[-2]))
    rb = ctx.refs[b]
    if not is_contiguous(rb):
        rb = copied(ctx, node, "right", rb, b.shape, b.dtype, (), out)
    target = ctx.refs[node]
    inner = kir.mul(ctx.size_expr(a.shape[:-2]), ctx.dim(a.shape[-1]))
    out.emit(kir.Gemm(ra.buffer, ra.offset, (ra.strides[-2], ra.strides[-1]), rb.buffer, rb.offset,
                      (rb.strides[-2], rb.strides[-1]), target.buffer, target.offset, ctx.dim(a.shape[-2]), inner,
                      ctx.dim(b.shape[-1])))
    return {id(a), id(b)}


def _one_product(ctx: Context, node: Node, a: Node, b: Node, out: kir.Builder) -> kir.Gemm | None:
    """A batch that is one matrix product (one BLAS call, not one per matrix): ``(P, m, k) @ (k, n)`` is
    ``(P·m, k) @ (k, n)`` with ``a`` in C order (copied into it first when it is a view in another layout: the
    time-major view of batch-major sequences, say), and ``(m, k) @ (P, k, 1)`` with ``b`` contiguous is
    ``(P, k) @ (m, k)ᵀ``."""
    target = ctx.refs[node]
    if node.ndim < 3 or not is_contiguous(target):
        return None
    batch, rows, inner = ctx.size_expr(node.shape[:-2]), ctx.dim(node.shape[-2]), ctx.dim(a.shape[-1])
    one = kir.index(1)
    if b.ndim == 2 and a.shape[:-2] == node.shape[:-2] and not (isinstance(batch, kir.Const) and batch.value == 1):
        ra, rb = ctx.refs[a], ctx.refs[b]
        if not is_contiguous(ra):
            ra = copied(ctx, node, "left", ra, a.shape, a.dtype, (), out)
        return kir.Gemm(ra.buffer, ra.offset, (inner, one), rb.buffer, rb.offset, (rb.strides[0], rb.strides[1]),
                        target.buffer, target.offset, kir.mul(batch, rows), inner, ctx.dim(b.shape[-1]))
    if a.ndim == 2 and b.shape[:-2] == node.shape[:-2] and b.shape[-1] == 1 and is_contiguous(ctx.refs[b]):
        ra, rb = ctx.refs[a], ctx.refs[b]
        return kir.Gemm(rb.buffer, rb.offset, (inner, one), ra.buffer, ra.offset, (ra.strides[1], ra.strides[0]),
                        target.buffer, target.offset, batch, inner, rows)
    return None


def _transposes(x: Node, y: Node) -> bool:
    return x.op == "transpose" and x.inputs[0] is y and x.attr("perm") == (1, 0)


def _checked_index(value: kir.Expr, size: kir.Expr, message: str, out: kir.Builder) -> kir.Var:
    """``_j`` = ``value``, checked to lie in [0, size) (negative indices do not wrap)."""
    j = kir.Var("_j", "int64")
    out.emit(kir.Let(j, kir.cast(value, "int64")))
    with out.when(kir.op("or", kir.op("lt", j, kir.index(0)), kir.op("ge", j, size))):
        out.emit(kir.Raise("IndexError", message))
    return j


def _checked_label(ctx: Context, node: Node, labels: Node, space: tuple, idx: list, size: Dim,
                   out: kir.Builder) -> kir.Expr:
    """The label at ``idx`` as an int64 index into an axis of ``size``, checked where it can be out of range."""
    value = ctx.read(labels, space, idx)
    known = constant_value(labels)
    if known is not None and isinstance(size, int) and (known.size == 0 or 0 <= known.min() <= known.max() < size):
        return kir.cast(value, "int64")  # constant labels, all in range: checked here once (the loop vectorizes)
    message = out_of_range_message(node.op, node.attr("axis"), size)
    return _checked_index(value, ctx.dim(size), message, out)


def _with(idx: list, axis: int, value: kir.Expr) -> list:
    return [value if a == axis else i for a, i in enumerate(idx)]


def emit_index(ctx: Context, node: Node, out: kir.Builder) -> set[int]:
    """Gather/scatter by labels, slice padding, concatenation, copies of strided views, random numbers."""
    out.emit(kir.Comment(ctx.describe(node)))
    target = ctx.refs[node]
    if node.op == "random_uniform":
        return _emit_random(ctx, node, out)
    if node.op == "eye":
        fill(ctx, node, kir.const(0, node.dtype), out)
        p = kir.Var("_p", "int64")
        with out.loop(p, kir.index(0), kir.index(node.attr("n"))):
            out.emit(kir.Store(target.buffer, target.flat(kir.mul(p, kir.index(node.attr("n") + 1))),
                               kir.const(1, node.dtype)))
        return set()
    if node.op in ("scatter_add", "pad_slice"):
        fill(ctx, node, kir.const(0, node.dtype), out)
    if node.op == "reshape":  # of a strided view: copy its elements in C order
        return emit_copy(ctx, node.inputs[0], target, out)
    if node.op == "take_along_axis":
        x, labels = node.inputs
        axis = node.attr("axis")
        with loops(ctx, node.shape, out) as idx:
            j = _checked_label(ctx, node, labels, node.shape, idx, x.shape[axis], out)
            out.emit(ctx.write(node, idx, ctx.refs[x].load(_with(idx, axis, j))))
        return {id(x), id(labels)}
    if node.op == "scatter_add":
        g, labels = node.inputs
        axis = node.attr("axis")
        with loops(ctx, g.shape, out) as idx:
            j = _checked_label(ctx, node, labels, g.shape, idx, node.shape[axis], out)
            where = _with(idx, axis, j)
            out.emit(target.store(where, kir.op("add", target.load(where), ctx.read(g, g.shape, idx))))
        return {id(g), id(labels)}
    if node.op == "pad_slice":
        (g,) = node.inputs
        with loops(ctx, g.shape, out) as idx:
            where = [kir.add(kir.index(start), kir.mul(kir.index(step), i))
                     for (start, _, step), i in zip(node.attr("index"), idx)]
            out.emit(target.store(where, ctx.read(g, g.shape, idx)))
        return {id(g)}
    if node.op == "concatenate":  # one pass over the output: each outer position writes its parts side by side
        axis, offset = node.attr("axis"), 0
        with loops(ctx, node.shape[:axis], out) as outer:
            for part in node.inputs:
                with loops(ctx, part.shape[axis:], out, start=axis) as inner:
                    idx = outer + inner
                    out.emit(target.store(_with(idx, axis, kir.add(kir.index(offset), idx[axis])),
                                          ctx.read(part, part.shape, idx)))
                offset += part.shape[axis]
        return {id(p) for p in node.inputs}
    raise NotImplementedError(f"codegen: no lowering for op {node.op!r}")


def _emit_random(ctx: Context, node: Node, out: kir.Builder) -> set[int]:
    """splitmix64 of the flat index (symdiff.ops.random), the same bits as the reference evaluator."""
    seed_body = Body(ctx, (), [], out)
    u64 = "uint64"
    base = kir.Var("_base", u64)
    start = kir.add(kir.op("mul", kir.cast(seed_body.expr(node.inputs[0]), u64), kir.const(GOLDEN, u64)),
                    kir.const(1, u64))
    for first in node.inputs[1:]:  # entries numbered from ``first``
        start = kir.add(start, kir.cast(seed_body.expr(first), u64))
    out.emit(kir.Let(base, start))
    p, z = kir.Var("_p", "int64"), kir.Var("_z", u64)

    def mix(shift: int, factor: int | None) -> kir.Expr:
        mixed = kir.op("xor", z, kir.op("shr", z, kir.const(shift, u64)))
        return kir.op("mul", mixed, kir.const(factor, u64)) if factor else mixed

    ref = ctx.refs[node]
    with out.loop(p, kir.index(0), ctx.size_expr(node.shape)):
        out.emit(kir.Let(z, kir.add(base, kir.cast(p, u64))), kir.Let(z, mix(30, MIX1)), kir.Let(z, mix(27, MIX2)),
                 kir.Let(z, mix(31, None)))
        unit = kir.op("mul", kir.cast(kir.op("shr", z, kir.const(11, u64)), "float64"),
                      kir.const(1.0 / 9007199254740992.0, "float64"))
        out.emit(kir.Store(ref.buffer, ref.flat(p), kir.cast(unit, node.dtype)))
    return seed_body.reads


def emit_copy(ctx: Context, node: Node, target: ArrayRef, out: kir.Builder) -> set[int]:
    """Copy ``node``'s elements (any strides) in C order into the contiguous ``target``: element by element where
    the two have one shape, else through a running C-order position (a reshape's copy)."""
    if same_shape(target.shape, ctx.shape_expr(node.shape)):
        with loops(ctx, node.shape, out) as idx:
            out.emit(target.store(idx, kir.cast(ctx.read(node, node.shape, idx), node.dtype)))
        return {id(node)}
    p = kir.Var("_p", "int64")
    out.emit(kir.Let(p, kir.index(0)))
    with loops(ctx, node.shape, out) as idx:
        out.emit(kir.Store(target.buffer, target.flat(p), kir.cast(ctx.read(node, node.shape, idx), node.dtype)),
                 kir.Let(p, kir.add(p, kir.index(1))))
    return {id(node)}
