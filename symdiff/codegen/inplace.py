"""Updates written into their parameters' own memory instead of a workspace array copied back at the end.

Every update reads the values before the step, and a step that raises (an index out of range, say) must leave
every parameter as it was. Two ways keep both true without a copy:

* :func:`final_updates`: a value nothing else reads is computed straight into its target by the last sections;
* :func:`updates_in_targets`: a value that other values read (an optimizer's new moment, which the parameter's
  own update reads) has its target as its array, once the last reader of the old value has run and when nothing
  after it can raise.
"""

from __future__ import annotations

from symdiff.ir import Node

from .plan import (
    Section,
    fused_nodes,
    inline_reads,
    is_elementwise,
    is_inline_leaf,
    is_small_output_product,
    members,
    memory_reads,
    root_base,
    shifted_reads,
    views_of,
)

#: Ops whose kernel code checks an index and raises (emit_ops._checked_index), and reductions that raise on an
#: empty named dim (emit_loops.emit_reduction).
_CHECKED = frozenset({"check_index", "take_along_axis", "scatter_add"})
_EXTREMA = frozenset({"max", "min"})


def final_updates(updates, arrays, users, output_ids) -> dict[int, Node]:
    """Updates whose new value can be computed straight into the parameter array, at the very end.

    Safe when the value is elementwise with the target's shape, nothing else reads the value, and no
    other update's loop reads this target (it would see the new values).
    """
    candidates = {}
    for target, value in updates:
        if (is_elementwise(value) and value.shape == target.shape and id(value) not in output_ids
                and not users[id(value)] and not is_inline_leaf(value)):
            candidates[id(value)] = target
    values = {id(v): v for _, v in updates}
    reads = {vid: inline_reads(values[vid], arrays) for vid in candidates}
    safe = {}
    for vid, target in candidates.items():
        placed = shifted_reads(values[vid], arrays)  # read at other indices than the ones being written
        if id(target) in placed or views_of(target, arrays) & placed:
            continue
        others = [r for other, r in reads.items() if other != vid]
        if not any(id(target) in r or views_of(target, arrays) & r for r in others) and not (
            views_of(target, arrays) & reads[vid]
        ):
            safe[vid] = target
    return safe


def product_updates(updates, final: dict[int, Node], arrays, users) -> dict[int, Node]:
    """Final updates ``W - s * (A @ B)`` (an SGD step of a layer's weights: ``s`` one value, ``A @ B`` a matrix
    product that nothing else reads and whose operands are no parameter the step updates, nor views of one: it runs
    after every update is written), by value id: the product node. One BLAS call then adds ``-s * A @ B`` to W
    (beta = 1): no array for the product, no pass over W after it."""
    targets = {id(t) for t, _ in updates}
    out = {}
    for target, value in updates:
        if id(value) not in final or value.op != "subtract" or value.inputs[0] is not target:
            continue
        scaled = value.inputs[1]
        if scaled.op != "multiply" or id(scaled) in arrays or len(users[id(scaled)]) != 1:
            continue
        scale, product = scaled.inputs if scaled.inputs[1].op == "matmul" else scaled.inputs[::-1]
        if (product.op != "matmul" or product.ndim != 2 or scale.shape != () or id(product) not in arrays
                or len(users[id(product)]) != 1 or is_small_output_product(product)
                or not product.dtype == scale.dtype == target.dtype or product.shape != target.shape
                or any(id(root_base(operand)) in targets for operand in product.inputs)
                or any(operand.op == "transpose" and operand.inputs[0] is other
                       for operand, other in (product.inputs, product.inputs[::-1]))):  # Bᵀ @ B: a gram
            continue
        out[id(value)] = product
    return out


def place_final_updates(sections: list[Section], values: list[Node], final: dict[int, Node], arrays: dict,
                        outputs: list[Node], fuse: bool) -> list[Section]:
    """``sections`` with each of the :func:`final_updates` ``values`` computed by the last loop over its shape that
    runs after every other reader of its parameter and after everything that can raise (an optimizer's update joins
    the loop of its moments: one pass over the parameter), or else by an "update" section at the end."""
    sections = list(sections)
    reads = [memory_reads(section, arrays) for section in sections]
    defined = {id(n): k for k, section in enumerate(sections) for n in members(section)}
    start = max((k for k, section in enumerate(sections) if _may_raise(section, arrays)), default=-1) + 1
    returned = {id(root_base(n)) for n in outputs}  # copied out after these loops: they must see the old values
    at_end: dict[tuple, Section] = {}
    for value in values:
        target = final[id(value)]
        hosts = [k for k in range(start, len(sections)) if fuse and id(target) not in returned
                 and _may_host(sections[k], value, target, arrays, defined, k)
                 and not any(id(target) in later for later in reads[k + 1:])]
        if hosts:
            sections[hosts[-1]].nodes.append(value)
            reads[hosts[-1]] |= memory_reads(Section("elementwise", [value]), arrays)
            continue
        if value.shape not in at_end:
            at_end[value.shape] = Section("update", [], value.shape)
        at_end[value.shape].nodes.append(value)
    return sections + list(at_end.values())


def _may_host(section: Section, value: Node, target: Node, arrays: dict, defined: dict, k: int) -> bool:
    """True when ``section``'s loop can also compute ``value`` into ``target``: the same elementwise shape, every
    array ``value`` reads already computed, and no element read at another index than the one being written."""
    if section.kind != "elementwise" or section.shape != value.shape:
        return False
    if any(defined.get(i, -1) > k for i in inline_reads(value, arrays)):
        return False
    if shifted_reads(value, arrays) & {id(n) for n in section.nodes}:
        return False
    return not any(id(target) in shifted_reads(n, arrays) or views_of(target, arrays) & inline_reads(n, arrays)
                   for n in section.nodes + [value])


def updates_in_targets(sections: list[Section], updates: list[tuple[Node, Node]], arrays: dict,
                       final: dict[int, Node], outputs: list[Node]) -> dict[int, Node]:
    """Update values (by id) whose array is their target's memory: each is computed by an elementwise loop over
    the target's shape that reads the target at most at the element it writes, no later section reads the old
    value (directly or through a view) and no later section can raise. Its readers then read the new value there,
    and no copy runs at the end."""
    returned = {id(root_base(n)) for n in outputs}  # copied out before the updates: they must see the old values
    position = {id(n): k for k, section in enumerate(sections) if section.kind == "elementwise"
                for n in section.nodes}
    reads = [memory_reads(section, arrays) for section in sections]
    raising = [k for k, section in enumerate(sections) if _may_raise(section, arrays)]
    out: dict[int, Node] = {}
    for target, value in updates:
        k = position.get(id(value))
        if (k is None or id(value) in final or value.shape != target.shape or id(target) in returned
                or id(value) in {id(n) for n in outputs} or any(r > k for r in raising)
                or any(id(target) in later for later in reads[k + 1:])):
            continue
        here = sections[k].nodes
        if any(id(target) in shifted_reads(n, arrays) or views_of(target, arrays) & inline_reads(n, arrays)
               for n in here):
            continue
        out[id(value)] = target
    return out


def _may_raise(section: Section, arrays: dict) -> bool:
    """True when the section's code may raise: an index check, an extremum over a named dim (empty at run time),
    or a loop over steps (its body may hold either)."""
    if section.kind == "loop":
        return True
    for node in members(section):
        for n in fused_nodes(node, arrays):
            if n.op in _CHECKED or n.op in _EXTREMA and any(isinstance(n.inputs[0].shape[a], str)
                                                            for a in n.attr("axes")):
                return True
    return False
