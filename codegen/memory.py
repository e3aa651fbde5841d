"""Workspace planning: liveness over the section schedule, buffer slots shared by dead intermediates.

Every intermediate array is a view into one flat workspace buffer per dtype. Two arrays share a
slot when their lifetimes do not overlap and their sizes are the same expression of the dims.
The wrapper allocates the buffers once per shape signature; steady-state calls allocate nothing
but the arrays they return.
"""

from __future__ import annotations

from dataclasses import dataclass

from symdiff.ir import Node

from .context import NUMPY_TYPE, Context
from .plan import root_base


@dataclass
class MemoryPlan:
    slots: dict[str, list[str]]  # dtype -> size expression of each slot
    slot_of: dict[int, tuple[str, int]]  # array node id -> (dtype, slot index)
    outputs: list[Node]  # arrays allocated fresh (they are returned)


def plan_memory(ctx: Context, defined: list[list[Node]], reads: list[set[int]], final_reads: set[int],
                fresh: set[int]) -> MemoryPlan:
    """Assign workspace slots to the arrays ``defined`` by each section.

    ``reads[s]`` are the array ids section ``s`` reads; ``final_reads`` are read after the last section
    (update copies, output copies); ``fresh`` are returned arrays, allocated per call instead.
    """
    by_id = {id(n): n for n in ctx.plan.order}
    last_use: dict[int, int] = {}
    for s, ids in enumerate(reads + [final_reads]):
        for nid in ids:
            last_use[id(root_base(by_id[nid]))] = s
    slots: dict[str, list[str]] = {}
    slot_of: dict[int, tuple[str, int]] = {}
    free: dict[tuple[str, str], list[int]] = {}
    live: list[int] = []
    outputs: list[Node] = []
    for s, nodes in enumerate(defined):
        for nid in [n for n in live if last_use.get(n, -1) < s]:
            live.remove(nid)
            dtype, k = slot_of[nid]
            free.setdefault((dtype, slots[dtype][k]), []).append(k)
        for node in nodes:
            if id(node) in fresh:
                outputs.append(node)
                continue
            size = ctx.storage_size(node)
            pool = free.get((node.dtype, size))
            if pool:
                k = pool.pop(0)
            else:
                slots.setdefault(node.dtype, []).append(size)
                k = len(slots[node.dtype]) - 1
            slot_of[id(node)] = (node.dtype, k)
            live.append(id(node))
    return MemoryPlan(slots, slot_of, outputs)


def workspace_lines(ctx: Context, memory: MemoryPlan) -> list[str]:
    """Kernel prologue: each intermediate's offset in its workspace buffer; fresh returned arrays."""
    lines = []
    for dtype, sizes in memory.slots.items():
        for k in range(len(sizes)):
            start = "0" if k == 0 else f"_o_{dtype}_{k - 1} + {sizes[k - 1]}"
            lines.append(f"    _o_{dtype}_{k} = {start}")
    by_id = {id(n): n for n in ctx.plan.order}
    for nid, slot in sorted(memory.slot_of.items(), key=lambda item: ctx.number[item[0]]):
        node = by_id[nid]
        lines.append(f"    {ctx.refs[nid].offset} = _o_{slot[0]}_{slot[1]}  # {ctx.describe(node)}")
    for node in memory.outputs:
        lines.append(f"    {ctx.refs[id(node)].buffer} = np.empty({ctx.size_expr(node.shape)}, "
                     f"{NUMPY_TYPE[node.dtype]})  # returned: {ctx.describe(node)}")
    return lines


def workspace_sizes(ctx: Context, memory: MemoryPlan) -> dict[str, str]:
    """Total elements per dtype, as expressions of the dim variables."""
    return {dtype: " + ".join(f"({s})" for s in sizes) for dtype, sizes in memory.slots.items()}
