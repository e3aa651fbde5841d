"""Scheduling: decide which nodes live in arrays, group the rest into fused loops, order the sections.

A graph becomes a list of :class:`Section` s. Elementwise nodes are inlined into the loop of the
array (or reduction) that consumes them unless recomputation would cost more than a store
(shared transcendental work, or work repeated across a broadcast); so are small matrix products.
Other matmuls, reductions and index ops are sections of their own; transposes, reshapes and slices
are views.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from symdiff.ir import Node, ShapeError, broadcast_shapes, toposort
from symdiff.ops import OPS
from symdiff.ops.functions import TRANSCENDENTAL as TRANSCENDENTAL_FUNCTIONS

from .arrays import unit_axes_only

#: Elementwise ops cheap enough to recompute in every loop that reads them.
CHEAP = frozenset({"cast", "broadcast_to", "stop_gradient", "negative"})
#: Ops that turn an array into a view of it (no loop, no copy).
VIEW_OPS = frozenset({"reshape", "transpose", "slice", "check_index"})
#: Elementwise ops worth a vectorized loop of their own rather than a scalar reduction loop (the function table's
#: cost class, and pow).
TRANSCENDENTAL = TRANSCENDENTAL_FUNCTIONS | {"power"}
#: Reductions inline the elementwise expression they reduce.
REDUCTIONS = frozenset({"sum", "max", "min"})
#: Index ops a loop computes inline like elementwise ones: a slice placed in zeros (the derivative of a slice, of
#: every window of a convolution or a pooling) reads its input array at shifted indices, zero elsewhere, so a sum
#: of placed slices is one loop instead of one zero-filled array each.
INLINE_INDEX = frozenset({"pad_slice"})
#: Matrix products with at most this many multiply-adds per entry (the first convolution of an image network, a
#: 3 x 3 window of one channel; a layer with a handful of inputs) are computed by the loops that read them, like
#: elementwise ops: as a BLAS call, cnn28's first layer wrote its 5.5 MB product for the bias + relu loop to read
#: back (inline: the CNN steps ~4 % faster, docs/ARCHITECTURE.md).
SMALL_CONTRACTION = 16
#: Matrix products with at most this many entries (a small layer's weight gradient, summed over the batch) are a
#: loop nest of the kernel accumulating the whole product at each step of the sum, not a BLAS call: BLAS packs the
#: operands for blocks these products do not have, and a kernel without BLAS calls exports without its binding.
SMALL_OUTPUT = 64


@dataclass
class Section:
    """One unit of generated code: ``kind`` is "elementwise" (one loop nest computing ``nodes``),
    "reduction", "matmul", "index", "view", "update" (in-place parameter updates), "rows" (one loop
    over rows running its ``members`` as passes over each row, see rows.py) or "loop" (scan siblings computed by
    one loop over the steps, see emit_scan.py)."""

    kind: str
    nodes: list[Node]
    shape: tuple = ()
    members: list[Section] = field(default_factory=list)


@dataclass
class Plan:
    order: list[Node]
    arrays: dict[int, Node]  # materialized nodes (inputs, views, computed arrays), by id
    sections: list[Section]
    inplace_updates: dict[int, Node]  # id(value node) -> target input written in place by the last sections
    stored_in_targets: dict[int, Node]  # id(value node) -> target input that is its array (inplace.py)
    copied_updates: list[tuple[Node, Node]]  # (target, value) copied from a buffer at the end
    update_targets: list[Node]  # every input written by an update
    output_copies: dict[int, Node]  # id(output) -> node whose array is copied into a fresh output
    row_local: set[int]  # arrays living inside one row group: one row of storage (row stride 0)
    unstored: set[int]  # arrays of a loop whose every reader is a later node of that loop: never stored


def is_elementwise(node: Node) -> bool:
    return OPS[node.op].kind == "elementwise"


def is_fusable(node: Node) -> bool:
    """True when loops can compute ``node`` inline: elementwise ops, :data:`INLINE_INDEX` ops and small
    products."""
    return is_elementwise(node) or node.op in INLINE_INDEX or is_small_product(node)


def is_small_product(node: Node) -> bool:
    """A float matrix product of at most :data:`SMALL_CONTRACTION` terms per entry: computed by loops, not BLAS."""
    if node.op != "matmul" or node.dtype not in ("float32", "float64"):
        return False
    a, b = node.inputs
    terms = a.shape[-1]
    return a.ndim >= 2 and b.ndim >= 2 and isinstance(terms, int) and 1 <= terms <= SMALL_CONTRACTION


def is_small_output_product(node: Node) -> bool:
    """A float product of two matrices with at most :data:`SMALL_OUTPUT` entries (any number of terms each)."""
    if node.op != "matmul" or node.dtype not in ("float32", "float64") or node.ndim != 2:
        return False
    a, b = node.inputs
    rows, columns = node.shape
    return a.ndim == b.ndim == 2 and isinstance(rows, int) and isinstance(columns, int) and \
        rows * columns <= SMALL_OUTPUT


def is_inline_leaf(node: Node) -> bool:
    """Values emitted as expressions, never as arrays: one-element constants and element counts."""
    return node.op == "count" or node.op == "constant" and node.attr("value").array.size == 1


def plan(outputs: list[Node], updates: list[tuple[Node, Node]], fuse: bool = True) -> Plan:
    """Schedule ``outputs`` and ``updates`` (target input, new value) into sections.

    ``fuse=False`` stores every node in its own array and loop (a debugging and testing baseline).
    """
    updates = _snapshot_aliased(updates)
    roots = outputs + [value for _, value in updates]
    order = _live_order(roots)
    users: dict[int, list[Node]] = {id(n): [] for n in order}
    for node in order:
        if node.op != "count":
            for inp in node.inputs:
                users[id(inp)].append(node)
    output_ids = {id(n) for n in outputs}
    update_ids = {id(v) for _, v in updates}
    arrays: dict[int, Node] = {}
    loops: dict[int, tuple] = {}
    for node in reversed(order):
        if (not fuse and not is_inline_leaf(node)) or _needs_array(
                node, users[id(node)], output_ids | update_ids, arrays, loops):
            arrays[id(node)] = node
    from .inplace import final_updates, place_final_updates, product_updates, updates_in_targets
    from .leading_sums import join_leading_sums  # builds on this module's Section, as rows.py
    from .rows import fuse_rows  # rows.py builds on this module's Section

    inplace = final_updates(updates, arrays, users, output_ids)
    for value_id in inplace:
        arrays.pop(value_id, None)
    by_product = product_updates(updates, inplace, arrays, users) if fuse else {}
    # after everything that reads W or can raise: W += -s * (A @ B), the product's array a fallback's; placed before
    # row fusion, which then sees the product read its operands whole
    sections = _sections(order, arrays, fuse, {id(p) for p in by_product.values()}) + [
        Section("product_update", [by_product[id(n)], n], n.shape) for n in order if id(n) in by_product]
    row_local: set[int] = set()
    in_targets: dict[int, Node] = {}
    if fuse:
        sections, row_local = fuse_rows(sections, arrays, roots)
    final = [n for n in order if id(n) in inplace and id(n) not in by_product]
    sections = place_final_updates(sections, final, inplace, arrays, outputs, fuse)
    final += [n for n in order if id(n) in by_product]
    row_local -= {i for value in final for i in inline_reads(value, arrays)}  # read outside their row group
    unstored: set[int] = set()
    if fuse:
        in_targets = updates_in_targets(sections, updates, arrays, inplace, outputs)
        sections = join_leading_sums(sections, update_ids)  # after the updates' placement: none joins a sum's loop
        unstored = _unstored(sections, arrays, roots)
    copied = [(t, v) for t, v in updates if id(v) not in inplace and id(v) not in in_targets]
    # outputs are copied out before any update writes, so they hold the values before the step
    # returned arrays own their memory: views, inputs and constant arrays are copied out
    output_copies = {id(n): n for n in outputs
                     if n.op in VIEW_OPS and not needs_copy(n) or n.op in ("input", "constant")}
    return Plan(order, arrays, sections, inplace, in_targets, copied, update_targets=[t for t, _ in updates],
                output_copies=output_copies, row_local=row_local, unstored=unstored)


def _snapshot_aliased(updates: list[tuple[Node, Node]]) -> list[tuple[Node, Node]]:
    """Update values whose memory is an updated parameter's (``A <- B``, ``A <- B.T``, a swap) become
    elementwise copies, computed before any parameter is written: every update reads the values before the step.
    So does a value already updating another parameter (``v <- m``, ``u <- m``): each update has a node of its own,
    written into its own parameter.

    The copy is an identity elementwise node (``stop_gradient``: its value is its input's) naming its parameter
    (nodes are interned: copies of one value for two parameters would be one node again); as an update value it is
    stored or written in place by the same rules as any other value.
    """
    targets = {id(t) for t, _ in updates}
    seen: set[int] = set()
    out = []
    for target, value in updates:
        if id(root_base(value)) in targets or value.op == "input" or id(value) in seen:
            value = Node("stop_gradient", (value,), {"update": target.name}, value.shape, value.dtype)
        seen.add(id(value))
        out.append((target, value))
    return out


def _live_order(roots: list[Node]) -> list[Node]:
    """Topological order without the subgraphs that only an element count reads (it needs just dims), each
    one-element value right after its last input: a bias correction ``1 - 0.9 ** t`` then sits before the optimizer
    loops that read it, not between them, so loops over one shape stay adjacent and fuse."""
    order = toposort(roots)
    live = {id(r) for r in roots}
    for node in reversed(order):
        if id(node) in live and node.op != "count":
            live.update(id(i) for i in node.inputs)
    key: dict[int, tuple] = {}  # inputs and constants first (nothing computes them), then the schedule
    for k, node in enumerate(n for n in order if id(n) in live):
        if node.op in ("input", "constant"):
            key[id(node)] = (-1, 0, k)
        elif _one_element(node) and all(_one_element(i) or i.op in ("input", "constant", "count")
                                        for i in node.inputs):
            key[id(node)] = (max((key[id(i)][0] for i in node.inputs if id(i) in key), default=-1), 1, k)
        else:
            key[id(node)] = (k, 0, k)
    return sorted((n for n in order if id(n) in live), key=lambda n: key[id(n)])


def _one_element(node: Node) -> bool:
    """A computed value of one element (a scalar, a bias correction), elementwise or a sum of one."""
    return (is_elementwise(node) or node.op in REDUCTIONS) and all(d == 1 for d in node.shape)


def _needs_array(node: Node, node_users: list[Node], rooted: set[int], arrays: dict, loops: dict) -> bool:
    """Decide materialization; users are decided first (reverse topological walk).

    ``loops`` maps each inlined node to ``(ids of the loops evaluating it, widest iteration space)``.
    """
    if is_inline_leaf(node):  # stored only for a reader that takes arrays (a view, a matmul, an index op)
        return any(not inlines(u) for u in node_users)
    if node.op in ("input", "constant"):
        return True
    if node_users and all(contracted_product(u) is node and id(u) in arrays for u in node_users) \
            and id(node) not in rooted:
        return False  # summed over its batch by one matrix product (emit_ops.py), never stored
    if not is_fusable(node) or id(node) in rooted or any(not inlines(u) for u in node_users):
        return True
    owners: set[int] = set()
    spaces = [node.shape]
    for u in node_users:
        if id(u) in arrays:
            owners.add(id(u))
            spaces.append(u.inputs[0].shape if u.op in REDUCTIONS else u.shape)
        else:
            u_owners, u_space = loops[id(u)]
            owners |= u_owners
            spaces.append(u_space)
    try:
        space = broadcast_shapes(*spaces)
    except ShapeError:  # read by loops over unrelated shapes (a shared scalar, say): store it once
        loops[id(node)] = (owners, node.shape)
        return True
    loops[id(node)] = (owners, space)
    if node.op in CHEAP:
        return False
    # A reduction loop runs scalar (IEEE forbids reordering its sum), so transcendental work inside
    # it would lose the vectorized fast functions: store it in a vectorized loop, then reduce.
    if node.op in TRANSCENDENTAL and any(arrays[o].op in REDUCTIONS for o in owners):
        return True
    # Shared work is stored once; work that a broadcast would repeat is stored at its own size.
    return len(owners) > 1 or space != node.shape


def contracted_product(node: Node) -> Node | None:
    """The batched product ``P @ Q`` that ``node`` sums over all its batch axes (the weight gradient of a layer
    applied over a batch of sequences or images): one matrix product over the flattened batch computes the sum
    (see emit_ops.py). Else None."""
    if node.op != "sum" or node.inputs[0].op != "matmul":
        return None
    product = node.inputs[0]
    a, b = product.inputs
    lead = product.ndim - 2
    if lead < 1 or tuple(sorted(node.attr("axes"))) != tuple(range(lead)) or \
            a.shape[:-2] != product.shape[:-2] or b.shape[:-2] != product.shape[:-2]:
        return None
    return product


def section_reads(node: Node) -> tuple[Node, ...]:
    """The nodes a section of ``node`` reads as arrays: its inputs, or a contracted product's operands."""
    product = contracted_product(node)
    return product.inputs if product is not None else node.inputs


def inlines(user: Node) -> bool:
    """True when ``user`` reads its inputs as scalar expressions inside its own loop."""
    return is_elementwise(user) or user.op in REDUCTIONS


def needs_copy(node: Node) -> bool:
    """A reshape of a strided view (transpose or slice) cannot be a view, unless it only adds or drops length-1 axes
    (a stack of pooling windows, say): it is copied in C order."""
    return node.op == "reshape" and strided(node.inputs[0]) and not unit_axes_only(node.inputs[0].shape, node.shape)


def strided(node: Node) -> bool:
    """True when ``node``'s array may not be in C order: transposes, slices and the views of them."""
    if node.op in ("transpose", "slice"):
        return True
    return node.op in ("reshape", "check_index") and not needs_copy(node) and strided(node.inputs[0])


def fused_nodes(value: Node, arrays: dict) -> list[Node]:
    """``value`` and the nodes its loop computes inline (neither arrays nor inline leaves)."""
    seen, stack, out = set(), [value], []
    while stack:
        node = stack.pop()
        out.append(node)
        for inp in node.inputs:
            if id(inp) not in arrays and id(inp) not in seen and not is_inline_leaf(inp):
                seen.add(id(inp))
                stack.append(inp)
    return out


def placed_slices(value: Node, arrays: dict) -> list[Node]:
    """The placed slices (:data:`INLINE_INDEX` nodes) that the loop of ``value`` computes, ``value`` included."""
    return [n for n in fused_nodes(value, arrays) if n.op in INLINE_INDEX]


def shifted_reads(value: Node, arrays: dict) -> set[int]:
    """ids of the arrays that the fused expression of ``value`` reads at other indices than the loop's (so the
    loop must not be the one writing them): the inputs of its placed slices and the operands of its small
    products."""
    fused = fused_nodes(value, arrays)
    return {id(n.inputs[0]) for n in fused if n.op in INLINE_INDEX and n is not value} | \
        {id(i) for n in fused if is_small_product(n) for i in n.inputs}


def cross_row_reads(value: Node, arrays: dict) -> set[int]:
    """ids of the arrays that the fused expression of ``value`` reads in every row of its loop: the right
    operands (one matrix for every row) of its small products."""
    return {id(n.inputs[1]) for n in fused_nodes(value, arrays) if is_small_product(n) and n.inputs[1].ndim == 2}


def inline_reads(value: Node, arrays: dict) -> set[int]:
    """ids of the arrays that the fused expression of ``value`` reads."""
    return {id(i) for n in fused_nodes(value, arrays) for i in n.inputs if id(i) in arrays}


def _unstored(sections: list[Section], arrays: dict, roots: list[Node]) -> set[int]:
    """Values an elementwise loop computes for its own later nodes only (a gradient plus weight decay, read by
    both moments of an optimizer): they stay in the loop body, no array stores them."""
    rooted = {id(root_base(r)) for r in roots}
    readers: dict[int, set[int]] = {}
    for k, section in enumerate(sections):
        for nid in memory_reads(section, arrays):
            readers.setdefault(nid, set()).add(k)
    return {id(n) for k, section in enumerate(sections) if section.kind == "elementwise" for n in section.nodes
            if id(n) in arrays and id(n) not in rooted and readers.get(id(n), set()) <= {k}}


def members(section: Section) -> list[Node]:
    """The nodes a section computes as arrays (a row group's: its passes')."""
    return [n for member in section.members for n in member.nodes] if section.kind == "rows" else section.nodes


def memory_reads(section: Section, arrays: dict) -> set[int]:
    """ids of the arrays whose memory ``section`` reads (a view counts as its base)."""
    ids = set()
    for node in members(section):
        ids |= inline_reads(node, arrays) | {id(i) for i in section_reads(node) if id(i) in arrays}
    return {id(root_base(arrays[i])) for i in ids}


def views_of(target: Node, arrays: dict) -> set[int]:
    return {nid for nid, n in arrays.items() if n.op in VIEW_OPS and root_base(n) is target}


def root_base(node: Node) -> Node:
    """The array whose memory a view aliases (a copying reshape owns its memory)."""
    while node.op in VIEW_OPS and not needs_copy(node):
        node = node.inputs[0]
    return node


def loop_group(node: Node) -> tuple:
    """What scan siblings share (inputs and body; they differ in the carry they return): one loop computes them."""
    return tuple(map(id, node.inputs)), tuple((k, v) for k, v in node.attrs if k not in ("output", "mode"))


def _sections(order: list[Node], arrays: dict, fuse: bool, later: set[int]) -> list[Section]:
    """The sections of ``order``'s arrays in order, but those in ``later`` (products that update a parameter)."""
    sections: list[Section] = []
    loops: dict[tuple, Section] = {}
    for node in order:
        if id(node) not in arrays or node.op in ("input", "constant") or id(node) in later:
            continue
        kind = OPS[node.op].kind
        if node.op in VIEW_OPS and not needs_copy(node):
            sections.append(Section("view", [node]))
        elif node.op == "count":  # an element count some reader needs as an array: a loop fills it
            sections.append(Section("elementwise", [node], node.shape))
        elif node.op == "reshape":
            sections.append(Section("index", [node], node.shape))
        elif kind == "loop":  # siblings join the first one's section (their inputs are ready there too)
            group = loop_group(node)
            if group in loops:
                loops[group].nodes.append(node)
            else:
                loops[group] = Section("loop", [node], node.shape)
                sections.append(loops[group])
        elif contracted_product(node) is not None and id(node.inputs[0]) not in arrays:
            sections.append(Section("matmul", [node], node.shape))
        elif kind == "elementwise" or is_small_product(node):
            last = sections[-1] if sections else None
            if fuse and last is not None and last.kind == "elementwise" and last.shape == node.shape and not (
                    shifted_reads(node, arrays) & {id(n) for n in last.nodes}):
                last.nodes.append(node)  # horizontal fusion: one loop nest computes both
            else:
                sections.append(Section("elementwise", [node], node.shape))
        else:
            sections.append(Section(kind, [node], node.shape))
    return sections
