"""Workspace planning: liveness over the section schedule, buffer slots shared by dead intermediates.

Every intermediate array is a slice of one flat workspace buffer per dtype. Two arrays share a slot when their
lifetimes do not overlap and their sizes are the same expression of the dims. Buffers start on 64-byte boundaries
and so do slots of a vector's elements or more. The wrapper allocates the buffers once per shape signature and
reuses them; steady-state calls allocate nothing but the arrays they return.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symdiff.ir import Node, fixed_size

from . import kir
from .context import Context
from .plan import root_base

#: Bytes each workspace buffer (the wrapper's ``_aligned``) and each slot of a vector's elements or more start on:
#: a cache line, an AVX-512 vector.
ALIGNMENT = 64
#: A size as data: the product of the concrete dims and the sorted named ones (equal sizes, equal keys).
SizeKey = tuple[int, tuple[str, ...]]


@dataclass
class MemoryPlan:
    slots: dict[str, list[SizeKey]]  # dtype -> size of each slot
    slot_of: dict[int, tuple[str, int]]  # array node id -> (dtype, slot index)


def _size_key(shape: tuple) -> SizeKey:
    return fixed_size(shape), tuple(sorted(d for d in shape if isinstance(d, str)))


def plan_memory(ctx: Context, defined: list[list[Node]], reads: list[set[int]], final_reads: set[int]) -> MemoryPlan:
    """Assign workspace slots to the arrays ``defined`` by each section (arrays with their own buffers, returned
    or constant, are skipped). ``reads[s]`` are the array ids section ``s`` reads; ``final_reads`` those read
    after the last section (update copies)."""
    by_id = {id(n): n for n in ctx.plan.order + ctx.nested_arrays}
    last_use: dict[int, int] = {}
    for s, ids in enumerate(reads + [final_reads]):
        for nid in ids:
            last_use[id(root_base(by_id[nid]))] = s
    slots: dict[str, list[SizeKey]] = {}
    slot_of: dict[int, tuple[str, int]] = {}
    free: dict[tuple[str, SizeKey], list[int]] = {}
    live: list[int] = []
    for s, nodes in enumerate(defined):
        for nid in [n for n in live if last_use.get(n, -1) < s]:
            live.remove(nid)
            dtype, k = slot_of[nid]
            free.setdefault((dtype, slots[dtype][k]), []).append(k)
        for node in nodes:
            if ctx.refs[node].buffer.name != f"_ws_{node.dtype}":
                continue
            shape = node.shape[1:] if ctx.is_row_local(node) else node.shape
            key = _size_key(shape)
            pool = free.get((node.dtype, key))
            if pool:
                k = pool.pop(0)
            else:
                slots.setdefault(node.dtype, []).append(key)
                k = len(slots[node.dtype]) - 1
            slot_of[id(node)] = (node.dtype, k)
            live.append(id(node))
    return MemoryPlan(slots, slot_of)


def _workspace_arrays(ctx: Context) -> dict[int, Node]:
    """Every node that may hold a workspace slot, by id."""
    return {id(n): n for n in ctx.plan.order + ctx.stored_scalars + ctx.nested_arrays}


def workspace_regions(ctx: Context, memory: MemoryPlan) -> dict[str, tuple[str, int]]:
    """The workspace slot each offset variable points into: every access at an index built on it stays within
    that slot, and slots are disjoint (kir.Kernel.regions)."""
    by_id = _workspace_arrays(ctx)
    return {ctx.offset(by_id[nid]).name: slot for nid, slot in memory.slot_of.items()}


def workspace_offsets(ctx: Context, memory: MemoryPlan) -> list[kir.Stmt]:
    """Kernel prologue: the offset of each intermediate in its workspace buffer, the sum of the sizes of the slots
    before its own as one polynomial in the dims (``_a5 = 3 + _d0 * 138``)."""
    starts = {(dtype, k): _polynomial(ctx, before) for dtype, sizes in memory.slots.items()
              for k, before in _accumulated(dtype, sizes)[0].items()}
    by_id = _workspace_arrays(ctx)
    return [kir.Let(ctx.offset(by_id[nid]), starts[slot], ctx.describe(by_id[nid]))
            for nid, slot in sorted(memory.slot_of.items(), key=lambda item: ctx.number[item[0]])]


def _layout(dtype: str, sizes: list[SizeKey]) -> list[tuple[int, SizeKey]]:
    """The slots in buffer order with the sizes they take: a slot of at least a vector's elements per value of its
    dims first, padded to whole vectors, so it starts on a 64-byte boundary (the buffer does) for any dims (vector
    loads and stores never straddle two cache lines); the smaller ones after them, as they are."""
    lanes = ALIGNMENT // np.dtype(dtype).itemsize
    wide = [(k, (-(-count // lanes) * lanes, dims)) for k, (count, dims) in enumerate(sizes) if count >= lanes]
    return wide + [(k, key) for k, key in enumerate(sizes) if key[0] < lanes]


def workspace_sizes(ctx: Context, memory: MemoryPlan) -> dict[str, kir.Expr]:
    """Total elements per dtype (slots padded as laid out), one polynomial in the dims each (``16 + 12 * _d0``)."""
    return {dtype: _polynomial(ctx, _accumulated(dtype, sizes)[1]) for dtype, sizes in memory.slots.items()}


def _accumulated(dtype: str, sizes: list[SizeKey]) -> tuple[dict[int, dict], dict]:
    """The sizes of the slots laid out before each slot (by slot number), and of all of them: named dims ->
    coefficient."""
    before: dict[int, dict[tuple[str, ...], int]] = {}
    terms: dict[tuple[str, ...], int] = {}
    for k, (size, dims) in _layout(dtype, sizes):
        before[k] = dict(terms)
        terms[dims] = terms.get(dims, 0) + size
    return before, terms


def _polynomial(ctx: Context, terms: dict[tuple[str, ...], int]) -> kir.Expr:
    """The sum of each coefficient times its named dims."""
    return kir.total(*(kir.product(kir.index(count), *map(ctx.dim, names)) for names, count in sorted(terms.items())))
