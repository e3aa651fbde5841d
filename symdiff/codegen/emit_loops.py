"""Loop nests for fused elementwise groups, in-place updates, reductions and row groups, as kernel IR.

Inside a loop, every inlined node becomes one variable (``_v12 = tanh(_v11)``), so the printed kernel reads like
the graph; arrays are read with broadcasting indices.
"""

from __future__ import annotations

from symdiff.ir import Node, toposort
from symdiff.ops import constant_value
from symdiff.ops.reductions import empty_extremum_message

from . import kir
from .arrays import ArrayRef
from .context import Context
from .plan import Section, fused_nodes, is_small_product, placed_slices
from .scalar import scalar_expr

_COMBINE = {"sum": "add", "max": "max", "min": "min"}


class Body:
    """Builds the inlined expressions of one loop body into ``out``, each node once (a memo)."""

    def __init__(self, ctx: Context, space: tuple, idx: list[kir.Expr], out: kir.Builder,
                 segment: tuple[int, int] | None = None, rows_first: dict[int, ArrayRef] | None = None) -> None:
        self.ctx, self.space, self.idx, self.out = ctx, space, idx, out
        self.segment = segment  # the range [lo, hi) the innermost index runs over, when the loop is split
        self.rows_first = rows_first or {}  # small products' right operands copied into C order before the loop
        self.memo: dict[int, kir.Expr] = {}
        self.reads: set[int] = set()
        self.expansions: list[Node] = []  # kept alive while ``memo`` holds their ids

    def expr(self, node: Node) -> kir.Expr:
        if id(node) in self.memo:
            return self.memo[id(node)]
        ctx = self.ctx
        if id(node) in ctx.plan.arrays or ctx.is_scalar_input(node):
            self.reads.add(id(node))
            value = ctx.read(node, self.space, self.idx)
        elif node.op == "constant":
            value = kir.const(constant_value(node).item(), node.dtype)
        elif node.op == "count":
            value = self.count(node)
        else:
            value = self.compute(node)
        self.memo[id(node)] = value
        return value

    def compute(self, node: Node) -> kir.Var:
        """``node``'s element from its inputs' (even when ``node`` has an array: the loop that fills it)."""
        if node.op == "count":
            value = self.count(node)
        elif node.op == "pad_slice":
            value = self.placed(node)
        elif node.op == "matmul":
            value = self.product(node)
        else:
            value = scalar_expr(node, [self.expr(i) for i in node.inputs], self.expand)
        var = self.ctx.local(node)
        self.out.emit(kir.Let(var, value, self.ctx.describe(node)))
        self.memo[id(node)] = var
        return var

    def placed(self, node: Node) -> kir.Expr:
        """An element of a slice placed in zeros, read from the slice's array: along each axis the loop index's
        distance from the slice's start (in the step's direction), divided by the step, where it lands on the
        slice; 0 elsewhere. The load's index is clamped into the array, so it is always a valid read."""
        (part,) = node.inputs
        self.reads.add(id(part))
        lead = len(self.space) - node.ndim
        inside, where = None, []
        for a, ((start, _, step), size) in enumerate(zip(node.attr("index"), self.ctx.shape_expr(part.shape))):
            i = kir.index(0) if node.shape[a] == 1 and self.space[lead + a] != 1 else self.idx[lead + a]
            if (start, step) == (0, 1) and part.shape[a] == node.shape[a]:  # the whole axis: no test, no clamp
                where.append(i)
                continue
            innermost = lead + a == len(self.space) - 1 and node.shape[a] == self.space[-1]
            span = _span(node, a) if self.segment is not None and innermost else None
            if span is not None and span[0] <= self.segment[0] and self.segment[1] <= span[1]:
                where.append(kir.add(i, kir.index(-start)))  # the split loop runs inside the slice only
                continue
            if span is not None and (self.segment[1] <= span[0] or span[1] <= self.segment[0]):
                return kir.const(0, node.dtype)  # ... or outside it only
            # distance from the slice's first entry in the direction of its step
            backwards = kir.add(kir.index(start), kir.mul(i, kir.index(-1)))
            shifted = kir.add(i, kir.index(-start)) if step > 0 else backwards
            stride = abs(step)
            j = shifted if stride == 1 else kir.op("idiv", kir.op("max", shifted, kir.index(0)), kir.index(stride))
            on = kir.op("and", kir.op("ge", shifted, kir.index(0)), kir.op("lt", j, size))
            if stride != 1:
                on = kir.op("and", on, kir.op("eq", kir.mul(j, kir.index(stride)), shifted))
            inside = on if inside is None else kir.op("and", inside, on)
            where.append(kir.op("min", kir.op("max", j, kir.index(0)), kir.add(size, kir.index(-1))))
        value = self.ctx.refs[part].load(where)
        return value if inside is None else kir.select(inside, value, kir.const(0, node.dtype))

    def product(self, node: Node) -> kir.Expr:
        """An entry of a small matrix product (plan.is_small_product): its multiply-adds in order, reading both
        operands' arrays at the entry's row and column; each multiply-add is one fmuladd (an FMA on CPUs with one,
        as BLAS computes them: half the vector operations of a multiply and an add)."""
        a, b = node.inputs
        lead = len(self.space) - node.ndim
        at = [kir.index(0) if d == 1 and self.space[lead + k] != 1 else self.idx[lead + k]
              for k, d in enumerate(node.shape)]
        self.reads |= {id(a), id(b)}
        total = None
        for j in range(a.shape[-1]):
            x = self.ctx.read(a, node.shape[:-1] + a.shape[-1:], [*at[:-1], kir.index(j)])
            copy = self.rows_first.get(id(b))
            y = copy.load([kir.index(j), at[-1]]) if copy is not None else \
                self.ctx.read(b, node.shape[:-2] + b.shape[-2:], [*at[:-2], kir.index(j), at[-1]])
            x, y = kir.cast(x, node.dtype), kir.cast(y, node.dtype)
            total = kir.op("mul", x, y) if total is None else kir.op("fmuladd", x, y, total)
        return total

    def count(self, node: Node) -> kir.Expr:
        """The value of an element count: the product of the counted dims."""
        counted = tuple(node.inputs[0].shape[a] for a in node.attr("axes"))
        return kir.cast(self.ctx.size_expr(counted), node.dtype)

    def expand(self, graph: Node) -> kir.Expr:
        """A graph over this body's nodes (an op defined as a composition of others) computed inline. Its nodes are
        computed here, never read from arrays: interned, one can be a node of the graph that the schedule computes
        later (tanh's derivative builds abs(x), which a loss may hold too)."""
        self.expansions.append(graph)
        for inner in toposort([graph], stop=self.memo):  # the expanded op's inputs are in memo: stop there
            if id(inner) in self.memo:
                continue
            if inner.op in ("input", "constant", "count"):
                self.expr(inner)
            else:
                self.compute(inner)
        return self.memo[id(graph)]


def loops(ctx: Context, shape: tuple, out: kir.Builder, start: int = 0, threads: int | None = None):
    """Nested loops over ``shape`` (index variables ``_i<k>``); yields the index expressions inside them.
    ``threads``: the axis whose loop has independent iterations (kir.For.threads)."""
    return _Nest(ctx, shape, out, start, threads)


class _Nest:
    def __init__(self, ctx: Context, shape: tuple, out: kir.Builder, start: int, threads: int | None) -> None:
        self.ctx, self.shape, self.out, self.start, self.threads = ctx, shape, out, start, threads
        self._contexts = []

    def __enter__(self) -> list[kir.Expr]:
        idx = []
        for k, d in enumerate(self.ctx.shape_expr(self.shape)):
            if isinstance(d, kir.Const) and d.value == 1:  # a unit dim needs no loop: index 0
                idx.append(kir.index(0))
                continue
            var = kir.Var(f"_i{self.start + k}", "int64")
            manager = self.out.loop(var, kir.index(0), d, threads=k == self.threads)
            manager.__enter__()
            self._contexts.append(manager)
            idx.append(var)
        return idx

    def __exit__(self, *exc) -> None:
        for manager in reversed(self._contexts):
            manager.__exit__(*exc)


def emit_elementwise(ctx: Context, section: Section, out: kir.Builder, bound: tuple[kir.Expr, ...] = ()) -> set[int]:
    """One loop nest computing every node of the section into its array (or its update target). When slices are
    placed along the innermost axis (the cotangent of a layer's gates, pieces of one product's columns), that loop
    is split at their edges: each piece runs over a range where every slice is wholly inside (a plain load) or
    outside (zero), with no test per element.

    ``bound``: index variables of enclosing loops already open (a row group's row index).
    """
    out.emit(kir.Comment(f"fused elementwise {section.shape}: " + ", ".join(ctx.describe(n) for n in section.nodes)))
    if not bound:  # (a row group's passes: zeroed before its loop over the rows)
        _zero_leading_sums(ctx, section, out)
    shape = section.shape[len(bound):]
    segments = _segments(ctx, section) if shape else [None]
    rows_first = {} if bound else _rows_first(ctx, section, out)
    reads: set[int] = set(rows_first)
    nest = shape if segments == [None] else shape[:-1]
    with loops(ctx, nest, out, start=len(bound), threads=None if bound else _independent_axis(section, nest)) as inner:
        for segment in segments:
            if segment is None:
                reads |= _compute_into(ctx, section, [*bound, *inner], out, None, rows_first)
                continue
            last = kir.Var(f"_i{len(section.shape) - 1}", "int64")
            with out.loop(last, kir.index(segment[0]), kir.index(segment[1])):
                reads |= _compute_into(ctx, section, [*bound, *inner, last], out, segment, rows_first)
    return reads


def _independent_axis(section: Section, nest: tuple) -> int | None:
    """The outermost axis of the loop nest whose iterations are independent: each writes its own elements (a joined
    leading sum adds the elements of its summed axes into one entry, so the first axis it keeps)."""
    axis = max((len(n.attr("axes")) for n in section.nodes if n.op == "sum"), default=0)
    if axis >= len(nest) or any(n.op != "sum" and n.shape != section.shape for n in section.nodes):
        return None
    return axis


def _zero_leading_sums(ctx: Context, section: Section, out: kir.Builder) -> None:
    """Zero the sums over leading axes that the section's loop adds each element into (leading_sums.py)."""
    for node in section.nodes:
        if node.op == "sum":
            fill(ctx, node, kir.const(0, node.dtype), out)


def _rows_first(ctx: Context, section: Section, out: kir.Builder) -> dict[int, ArrayRef]:
    """The right operands (matrices) of the loop's small products whose rows are not contiguous (``G @ Wᵀ``, a
    layer's input gradient: W read down its columns, a gather per vector lane), copied into C order before the loop:
    one pass over a matrix of at most SMALL_CONTRACTION rows instead of strided reads for every row of the loop."""
    copies: dict[int, ArrayRef] = {}
    for node in section.nodes:
        for product in fused_nodes(node, ctx.plan.arrays):
            b = product.inputs[1] if is_small_product(product) else None
            if b is None or b.ndim != 2 or id(b) in copies:
                continue
            step = ctx.refs[b].strides[-1]
            if not (isinstance(step, kir.Const) and step.value == 1) and b.shape[-1] != 1:
                copies[id(b)] = copied(ctx, product, "rows", ctx.refs[b], b.shape, b.dtype, (), out)
    return copies


def _compute_into(ctx: Context, section: Section, idx: list[kir.Expr], out: kir.Builder,
                  segment: tuple[int, int] | None, rows_first: dict[int, ArrayRef] | None = None) -> set[int]:
    body = Body(ctx, section.shape, idx, out, segment, rows_first)
    computed = [n for n in section.nodes if n.op != "sum"]  # sums here are joined leading sums (leading_sums.py)
    values = [body.compute(n) for n in computed]
    for node, value in zip(computed, values):
        if id(node) not in ctx.plan.unstored:  # else only this loop's later nodes read it, from the body
            out.emit(ctx.write(node, idx, value))
    for node in section.nodes:
        if node.op == "sum":  # the element just computed, added into its entry
            entry = _kept_index(node, idx)
            out.emit(ctx.write(node, entry, kir.op("add", ctx.refs[node].load(entry), body.expr(node.inputs[0]))))
    return body.reads


def copied(ctx: Context, node: Node, side: str, ref: ArrayRef, shape: tuple, dtype: str, swap: tuple,
           out: kir.Builder) -> ArrayRef:
    """``ref`` (of ``shape``; its last two axes exchanged when ``swap`` names them) copied in C order into a
    workspace array of ``node``'s section."""
    order = list(range(len(shape)))
    if swap:
        order[swap[0]], order[swap[1]] = swap[1], swap[0]
    permuted = tuple(shape[k] for k in order)
    scratch = ctx.scratch(f"_{side}{ctx.name(node, '')}", permuted, dtype)
    with loops(ctx, permuted, out) as idx:
        out.emit(scratch.store(idx, ref.load([idx[order.index(k)] for k in range(len(shape))])))
    return scratch


#: At most this many pieces of a split loop (each repeats the loop's body in the kernel).
_MOST_SEGMENTS = 8


def _span(node: Node, axis: int) -> tuple[int, int] | None:
    """The entries ``[first, end)`` that a placed slice with unit step covers along ``axis``, when known."""
    start, _, step = node.attr("index")[axis]
    size = node.inputs[0].shape[axis]
    return (start, start + size) if step == 1 and isinstance(size, int) else None


def _segments(ctx: Context, section: Section) -> list[tuple[int, int] | None]:
    """The pieces ``[lo, hi)`` of the innermost axis at whose edges slices placed along it start or end (``[None]``:
    no split, for a named or unit axis, no such slice, or too many pieces)."""
    size = section.shape[-1]
    if not isinstance(size, int) or size <= 1:
        return [None]
    cuts = {0, size}
    for node in section.nodes:
        for placed in placed_slices(node, ctx.plan.arrays):
            span = _span(placed, placed.ndim - 1) if placed.ndim and placed.shape[-1] == size else None
            cuts.update(c for c in span or () if 0 < c < size)
    if len(cuts) == 2 or len(cuts) > _MOST_SEGMENTS + 1:
        return [None]
    ends = sorted(cuts)
    return list(zip(ends[:-1], ends[1:]))


def emit_reduction(ctx: Context, section: Section, out: kir.Builder, bound: tuple[kir.Expr, ...] = ()) -> set[int]:
    """``sum``/``max``/``min`` over axes of an inlined expression, accumulating trailing axes in a variable.

    ``bound`` as for :func:`emit_elementwise`.
    """
    (node,) = section.nodes
    (source,) = node.inputs
    axes, keepdims = node.attr("axes"), node.attr("keepdims")
    n = source.ndim
    split = n
    while split > 0 and split - 1 in axes:
        split -= 1
    outer_reduced = any(a < split for a in axes)
    out.emit(kir.Comment(f"{node.op} over axes {axes}: {ctx.describe(node)} of {ctx.describe(source)}"))
    reduced = [source.shape[a] for a in axes]
    if node.op != "sum" and any(isinstance(d, str) for d in reduced):  # a named dim may be 0 at run time
        with out.when(kir.op("eq", ctx.size_expr(tuple(reduced)), kir.index(0))):
            out.emit(kir.Raise("ValueError", empty_extremum_message(node.op, axes, source.shape)))
    if outer_reduced:
        fill(ctx, node, _identity(node), out)
    with loops(ctx, source.shape[len(bound):split], out, start=len(bound)) as outer:
        idx = [*bound, *outer]
        if split < n:  # trailing axes reduced: a variable accumulates them
            acc = kir.Var(ctx.name(node, "_acc"), node.dtype)
            out.emit(kir.Let(acc, _identity(node)))
            with loops(ctx, source.shape[split:], out, start=split) as inner:
                body = Body(ctx, source.shape, idx + inner, out)
                out.emit(kir.Let(acc, kir.op(_COMBINE[node.op], acc, body.expr(source))))
            term: kir.Expr = acc
        else:  # only leading axes: each element goes straight into its output entry
            body = Body(ctx, source.shape, idx, out)
            term = body.expr(source)
        out_idx = _kept_index(node, idx) + ([kir.index(0)] * (n - split) if keepdims else [])
        target = ctx.refs[ctx.plan.inplace_updates.get(id(node), node)]
        value = kir.op(_COMBINE[node.op], target.load(out_idx), term) if outer_reduced else term
        out.emit(target.store(out_idx, value))
    return body.reads


def _kept_index(node: Node, idx: list[kir.Expr]) -> list[kir.Expr]:
    """The entry of reduction ``node`` that its input's element at ``idx`` (the leading axes of the input's, for a
    reduction of trailing axes too) goes into: the kept axes' indices, 0 on reduced axes it keeps."""
    axes, keepdims = node.attr("axes"), node.attr("keepdims")
    return [kir.index(0) if a in axes else i for a, i in enumerate(idx) if keepdims or a not in axes]


def _identity(node: Node) -> kir.Const:
    if node.op == "sum":
        return kir.const(0, node.dtype)
    if node.dtype in kir.FLOATS:
        return kir.const(float("-inf") if node.op == "max" else float("inf"), node.dtype)
    info = {"int64": (-(2**63), 2**63 - 1), "int32": (-(2**31), 2**31 - 1), "bool": (0, 1)}[node.dtype]
    return kir.const(info[0] if node.op == "max" else info[1], node.dtype)


def fill(ctx: Context, node: Node, value: kir.Expr, out: kir.Builder) -> None:
    """Set every element of ``node``'s (contiguous) array to ``value``."""
    ref = ctx.refs[node]
    p = kir.Var("_p", "int64")
    with out.loop(p, kir.index(0), ctx.size_expr(node.shape)):
        out.emit(kir.Store(ref.buffer, ref.flat(p), value))


def emit_rows(ctx: Context, section: Section, out: kir.Builder) -> set[int]:
    """A row group (rows.py): one loop over the rows running each member's loop nest as a pass over the row."""
    (rows,) = ctx.shape_expr(section.shape)
    kinds = ", ".join(f"{m.kind} {'/'.join(n.op for n in m.nodes)}" for m in section.members)
    out.emit(kir.Comment(f"row-fused passes over each row: {kinds}"))
    row = kir.Var("_i0", "int64")
    reads: set[int] = set()
    for member in section.members:
        if member.kind == "elementwise":
            _zero_leading_sums(ctx, member, out)
    with out.loop(row, kir.index(0), rows):
        for member in section.members:
            emit = emit_elementwise if member.kind == "elementwise" else emit_reduction
            reads |= emit(ctx, member, out, (row,))
    return reads
