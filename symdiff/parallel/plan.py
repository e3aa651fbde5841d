"""Where a compiled function's graph splits over the rows of its batch dim (see symdiff/parallel/__init__.py):
:func:`plan_split` walks the graph once and returns the shard and combine graphs, or None."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..autodiff.scan import substitute
from ..codegen.plan import SMALL_CONTRACTION
from ..codegen.wide_sums import accumulates_wide, wide_sum
from ..ir import Node, fixed_size, toposort, unbound_dims
from ..ops import OPS, cast, maximum, minimum, tensor
from ..ops.registry import make

#: How the combine graph joins the shards' values of each kind of batch reduction.
_COMBINE: dict[str, Callable[[Node, Node], Node]] = {"sum": lambda a, b: a + b, "max": maximum, "min": minimum}
#: Ops whose every output row is computed from the same rows of their inputs, whatever their attributes.
_ROW_OPS = frozenset({"transpose", "check_index", "concatenate"})


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class SplitPlan:
    """How the calls of one compiled function split over rows of ``dim`` (see the module docstring)."""

    dim: str
    batch_args: list[int]  # positions of the arguments with ``dim`` as axis 0
    reductions: list[tuple[Node, str]]  # the values summed (or maxed, minned) over the batch, with their kind
    row_outputs: dict[int, int]  # output position -> the axis of ``dim`` in it (computed by the shards)
    shard_roots: list[Node]  # the reductions, then the row outputs
    shard_inputs: list[Node]
    combine_outputs: list[Node]  # the other outputs, as the combine graph computes them
    combine_inputs: list[Node]
    combine_updates: list[tuple[Node, Node]]
    combined_positions: list[int]  # the positions of those outputs among the function's
    rows_input: Node | None  # the whole call's rows, for element counts of ``dim``
    first_row_input: Node | None  # a shard's first row, for random numbers drawn over the batch
    work_per_row: int  # the loop work of one row (see calls.MIN_LOOP_WORK)


class _UnsplittableError(Exception):
    """The graph mixes rows of the batch dim other than by summing them (or taking their maximum or minimum)."""


def plan_split(inputs: list[Node], outputs: list[Node], updates: list[tuple[Node, Node]], shards: int
               ) -> SplitPlan | None:
    """The split of a compiled function's graph over the rows of its batch dim into ``shards``, or None when no
    named dim of the inputs can split it (see the module docstring)."""
    dims = []
    for node in inputs:
        if node.shape and isinstance(node.shape[0], str) and node.shape[0] not in dims:
            dims.append(node.shape[0])
    for dim in dims:
        if any(dim in n.shape[1:] for n in inputs):
            continue  # an argument with the dim elsewhere: its rows are not a slice of contiguous memory
        try:
            return _split(inputs, outputs, updates, dim, shards)
        except _UnsplittableError:
            continue
    return None


def _split(inputs, outputs, updates, dim, shards) -> SplitPlan:
    roots = outputs + [value for _, value in updates]
    walk = _Walk(dim)
    walk.run(roots)
    reductions = _widest(walk.reductions, roots)
    if any(dim in value.shape for _, value in updates):
        raise _UnsplittableError
    rows = tensor(_fresh("rows", inputs), (), "int64") if walk.counts else None
    first = tensor(_fresh("first_row", inputs), (), "int64") if walk.randoms else None
    counted = {id(c): _whole_count(c, dim, rows) for c in walk.counts}
    # a draw's own inputs take the whole call's counts too (its seed may count the rows)
    drawn = {id(r): _drawn_from(r, substitute(list(r.inputs), counted), first) for r in walk.randoms}
    row_outputs = {k: o.shape.index(dim) for k, o in enumerate(outputs) if dim in o.shape}
    if not reductions and not row_outputs:
        raise _UnsplittableError  # no work on rows to share
    # a float32 sum's shards return their float64 totals, rounded once when the combine has added them
    totals = [wide_sum(r, r.inputs[0]) if accumulates_wide(r) else r for r, _ in reductions]
    shard_roots = substitute(totals + [outputs[k] for k in row_outputs], {**counted, **drawn})
    partials = [[tensor(_fresh(f"part{j}_{k}", inputs), r.shape, r.dtype) for j, r in enumerate(totals)]
                for k in range(shards)]  # by shard, then by reduction
    joined = {id(r): cast(functools.reduce(_COMBINE[kind], [shard[j] for shard in partials]), r.dtype)
              for j, (r, kind) in enumerate(reductions)}
    positions = [k for k in range(len(outputs)) if k not in row_outputs]
    combine_roots = substitute([outputs[k] for k in positions] + [v for _, v in updates], {**counted, **joined})
    extra = [rows] if rows is not None else []
    combine_inputs = [n for n in inputs if dim not in n.shape] + [p for shard in partials for p in shard] + extra
    if unbound_dims(combine_roots, combine_inputs):
        raise _UnsplittableError  # a value combined from the rows' dims (an element count of another named dim)
    return SplitPlan(
        dim=dim, batch_args=[k for k, n in enumerate(inputs) if dim in n.shape], reductions=reductions,
        row_outputs=row_outputs, shard_roots=shard_roots,
        shard_inputs=inputs + extra + ([first] if first is not None else []),
        combine_outputs=combine_roots[:len(positions)],
        combine_inputs=combine_inputs,
        combine_updates=list(zip([t for t, _ in updates], combine_roots[len(positions):])),
        combined_positions=positions, rows_input=rows, first_row_input=first, work_per_row=walk.work)


def _widest(reductions: list[tuple[Node, str]], roots: list[Node]) -> list[tuple[Node, str]]:
    """The reductions, each replaced by the reduction of the same kind that alone reads it, as far as they go: the
    shards then sum a layer's weight gradient over the steps of a sequence too (one product over the flattened
    rows and steps), rather than each step's for the combine graph to add up."""
    users: dict[int, list[Node]] = {}
    for node in toposort(roots):
        for i in node.inputs:
            users.setdefault(id(i), []).append(node)
    rooted = {id(r) for r in roots}
    widest, seen = [], set()
    for node, kind in reductions:
        while id(node) not in rooted and len(readers := users.get(id(node), [])) == 1 and readers[0].op == kind:
            node = readers[0]
        if id(node) not in seen:
            seen.add(id(node))
            widest.append((node, kind))
    return widest


def _fresh(stem: str, inputs: list[Node]) -> str:
    """An input name none of ``inputs`` has."""
    names = {n.name for n in inputs}
    name = f"shard_{stem}"
    while name in names:
        name += "_"
    return name


def _whole_count(node: Node, dim: str, rows: Node) -> Node:
    """An element count over axes that include the batch dim, of the whole call's rows rather than a shard's."""
    x = node.inputs[0]
    rest = [x.shape[a] for a in node.attr("axes") if x.shape[a] != dim]
    if not all(isinstance(d, int) for d in rest):
        raise _UnsplittableError
    return cast(rows * math.prod(rest), node.attr("dtype"))  # an int64 product: exact, then the count's dtype


def _drawn_from(node: Node, inputs: list[Node], first: Node) -> Node:
    """Random numbers over the batch (its first axis) as a shard draws them from ``inputs`` (the draw's seed and
    start as the whole call computes them): the whole call's entries from the shard's first row on
    (symdiff.ops.random numbers entries from a given start), so a split call draws the same mask as the one
    kernel."""
    per_row = math.prod(node.shape[1:])
    start = first * per_row if len(inputs) == 1 else inputs[1] + first * per_row
    return make("random_uniform", [inputs[0], start], **dict(node.attrs))


def draws_from_first_row(inputs: list[Node], roots: list[Node], dims: Sequence[str]) -> tuple[list[Node], Node | None]:
    """``roots`` with every random draw over the rows of a dim in ``dims`` drawing the whole call's entries from row
    ``first`` on (:func:`_drawn_from`, as a split call's shards draw them), and ``first``: a new int64 scalar input,
    or None (``roots`` unchanged) when nothing draws over the rows. A call on rows ``a:b`` of a batch fed
    ``first = a`` then draws those rows of the whole batch's mask (Dask's chunks: symdiff.distributed). A draw that
    cannot be numbered so raises a ValueError naming it and why."""
    outside = {id(n) for n in toposort(roots)}
    first = tensor(_fresh("first_row", inputs), (), "int64")
    drawn: dict[int, Node] = {}
    for node in toposort(roots, children=_reads):
        dim = next((d for d in node.shape if d in dims), None) if node.op == "random_uniform" else None
        if dim is None:
            continue
        why = _not_numbered(node, dim, id(node) in outside)
        if why:
            raise ValueError(f"{node!r} draws over the rows of {dim!r} {why}, so a part of the rows cannot draw "
                             "its rows of the whole call's draw")
        drawn[id(node)] = _drawn_from(node, list(node.inputs), first)
    return (substitute(roots, drawn), first) if drawn else (list(roots), None)


def _not_numbered(draw: Node, dim: str, outside: bool) -> str:
    """Why the rows of ``draw`` over ``dim`` cannot be numbered from a first row ("" when they can)."""
    if not outside:
        return "inside a loop's body"
    if draw.shape.index(dim):
        return f"on axis {draw.shape.index(dim)}, not the first"
    if not all(isinstance(d, int) for d in draw.shape[1:]):
        return "with named dims after them"
    if any(dim in n.shape for n in toposort(list(draw.inputs))):
        return "and its seed or start reads the rows"
    return ""


def _reads(node: Node) -> list[Node]:
    """What ``node`` computes from: its inputs, and a loop's body."""
    return [*node.inputs, *_loop_roots(node)] if node.op == "scan" else list(node.inputs)


def _loop_roots(scan: Node) -> list[Node]:
    """The roots of a loop's body: its step's values, and the residual it keeps when it keeps one."""
    attrs = scan.attr_dict
    return [*attrs["body"], *[attrs["output"]] * (attrs["mode"] == "residual")]


class _Walk:
    """Classifies a graph's nodes by how they use the rows of ``dim``, or raises :class:`_UnsplittableError`."""

    def __init__(self, dim: str, body: bool = False) -> None:
        self.dim = dim
        self.body = body  # walking a loop's body (no batch reductions, counts or draws of the call's rows there)
        self.reductions: list[tuple[Node, str]] = []
        self.counts: list[Node] = []
        self.randoms: list[Node] = []  # random numbers drawn over the batch (it is their first axis)
        self.work = 0
        self.after: set[int] = set()  # nodes reading a batch reduction
        self.loops: set[tuple[int, ...]] = set()  # the bodies of the loops counted (siblings share one)

    def run(self, roots: Sequence[Node]) -> None:
        for node in toposort(list(roots)):
            if node.op == "scan" and node.attr("length") == self.dim:
                raise _UnsplittableError  # a loop over the rows as steps (whatever it reads): rows in order
            if node.op == "count":
                if node.inputs and self.dim in [node.inputs[0].shape[a] for a in node.attr("axes")]:
                    if self.body:
                        raise _UnsplittableError
                    self.counts.append(node)
                continue
            reads = [i for i in node.inputs if self._rows(i)]
            if any(id(i) in self.after for i in node.inputs):
                if self._rows(node) or reads:
                    raise _UnsplittableError  # a row value reading a batch sum: rows depend on each other
                self.after.add(id(node))
                continue
            if self._rows(node):
                self._check_rows(node)
                self.work += self._work(node)
            elif reads:
                if self.body:
                    raise _UnsplittableError
                self.reductions.append((node, self._reduction(node)))
                self.after.add(id(node))

    def _rows(self, node: Node) -> bool:
        return self.dim in node.shape

    def _check_rows(self, node: Node) -> None:
        """Raise unless each row of ``node`` reads only the same rows of its inputs."""
        if node.shape.count(self.dim) > 1:
            raise _UnsplittableError  # rows against rows (an outer product or broadcast with their transpose)
        kind = node.op
        if kind in ("input", "constant") or kind in _ROW_OPS or OPS[kind].kind == "elementwise":
            return
        axis = self._axis(node)
        if kind == "reshape":
            if axis == 0 and self._axis(node.inputs[0]) == 0:
                return
        elif kind in ("slice", "pad_slice"):
            if node.attr("index")[axis][::2] == (0, 1) and self._axis(node.inputs[0]) == axis:
                return
        elif kind in _COMBINE:
            if self._axis(node.inputs[0]) not in node.attr("axes"):
                return
        elif kind == "matmul":
            a, b = node.inputs
            if a.shape[-1] != self.dim and (b.ndim < 2 or b.shape[-2] != self.dim):
                return
        elif kind in ("take_along_axis", "scatter_add"):
            if axis != node.attr("axis"):
                return
        elif kind == "scan":
            self._check_scan(node)
            return
        elif kind == "random_uniform":
            if axis == 0 and all(isinstance(d, int) for d in node.shape[1:]) and not self.body:
                self.randoms.append(node)
                return
        raise _UnsplittableError

    def _check_scan(self, node: Node) -> None:
        attrs = node.attr_dict
        inner = _Walk(self.dim, body=True)
        inner.run(_loop_roots(node))
        if tuple(map(id, attrs["body"])) not in self.loops:
            self.loops.add(tuple(map(id, attrs["body"])))
            self.work += inner.work * (attrs["length"] if isinstance(attrs["length"], int) else 1)

    def _axis(self, node: Node) -> int:
        """The axis of the batch dim in ``node`` (-1 without it)."""
        return node.shape.index(self.dim) if self.dim in node.shape else -1

    def _work(self, node: Node) -> int:
        """Loop work per row of ``node``: its elements for an elementwise op, its multiply-adds for a product that
        loops compute (a short one, or any in a recurrent loop, whose small products OpenBLAS runs on one thread)."""
        per_row = fixed_size(node.shape)
        if node.op == "matmul":
            terms = node.inputs[0].shape[-1]
            return per_row * terms if isinstance(terms, int) and (self.body or terms <= SMALL_CONTRACTION) else 0
        return per_row if OPS[node.op].kind == "elementwise" else 0

    def _reduction(self, node: Node) -> str:
        """The kind of a value without the batch dim computed from rows: a sum, maximum or minimum over them."""
        if node.op in _COMBINE and self._axis(node.inputs[0]) in node.attr("axes"):
            return node.op
        if node.op == "matmul":
            a, b = node.inputs
            if a.shape[-1] == self.dim and b.ndim >= 2 and b.shape[-2] == self.dim:
                return "sum"
        raise _UnsplittableError


