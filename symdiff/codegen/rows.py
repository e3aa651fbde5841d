"""Row fusion: consecutive loops over the same rows become passes inside one loop over the rows.

Softmax is the model case: ``max`` over a row, ``exp`` and its sum, then the normalization are
four loop nests over ``(batch, classes)``, each sweeping the whole batch and keeping
``(batch, 1)`` and ``(batch, classes)`` temporaries alive between them. Every one of them only
ever touches row ``i`` to produce row ``i``, so they can run as passes over one row at a time:

    for i in range(batch):
        m = max(x[i, :]); e[:] = exp(x[i, :] - m); s = sum(e); y[i, :] = e / s

A temporary that only passes inside the group shrinks to one row (its row stride becomes 0), so
it stays in cache, and the row's max and sum are single workspace scalars.
"""

from __future__ import annotations

from symdiff.ir import Node

from .plan import Section, cross_row_reads, inline_reads, root_base, section_reads

#: Section kinds that can be passes of a row loop.
_ROW_KINDS = ("elementwise", "reduction")


def _space(section: Section) -> tuple:
    """The iteration space of a section's loop nest."""
    return section.nodes[0].inputs[0].shape if section.kind == "reduction" else section.shape


def _row_pass(section: Section) -> bool:
    """A loop nest whose outer loop runs over rows and which writes only the row it reads."""
    if section.kind not in _ROW_KINDS or len(_space(section)) < 2:
        return False
    if section.kind == "reduction":  # only trailing axes reduced: row i of the result needs row i only
        node = section.nodes[0]
        ndim = node.inputs[0].ndim
        axes = sorted(node.attr("axes"))
        return bool(axes) and axes == list(range(ndim - len(axes), ndim)) and axes[0] > 0
    return True


def _reads(section: Section, arrays: dict) -> set[int]:
    return set().union(*(inline_reads(n, arrays) for n in section.nodes))


def fuse_rows(sections: list[Section], arrays: dict, roots: list[Node]) -> tuple[list[Section], set[int]]:
    """Merge runs of row passes over the same rows into ``"rows"`` sections (``members`` in order).

    Returns the new section list and the ids of arrays that live only inside one row group (they get
    one row of storage). A pass may join a group only if it reads the arrays the group made at the
    same row (same rank as its loop, so row i lines up with row i).
    """
    readers: dict[int, list[int]] = {}
    for s, section in enumerate(sections):
        # loops (in-place updates too) read what their inlined expressions read; other sections their inputs
        inlining = section.kind in _ROW_KINDS or section.kind == "update"
        reads = _reads(section, arrays) if inlining else {id(i) for n in section.nodes for i in section_reads(n)}
        for nid in reads:
            readers.setdefault(nid, []).append(s)
    rooted = {id(root_base(r)) for r in roots}  # outputs and update values must keep their full arrays
    out: list[Section] = []
    row_local: set[int] = set()
    group: list[int] = []

    def close() -> None:
        if len(group) > 1:
            members = [sections[s] for s in group]
            nodes = [n for m in members for n in m.nodes]
            out.append(Section("rows", nodes, _space(members[0])[:1], members))
            row_local.update(id(n) for n in nodes if id(n) not in rooted
                             and set(readers.get(id(n), [])) <= set(group))
        else:
            out.extend(sections[s] for s in group)
        group.clear()

    for s, section in enumerate(sections):
        if group and _row_pass(section) and _joins(section, [sections[g] for g in group], arrays):
            group.append(s)
            continue
        close()
        if _row_pass(section):
            group.append(s)
        else:
            out.append(section)
    close()
    return out, row_local


def _joins(section: Section, group: list[Section], arrays: dict) -> bool:
    rows = _space(group[0])[0]
    space = _space(section)
    if space[0] != rows:
        return False
    made = {id(n): n for member in group for n in member.nodes}
    if any(cross_row_reads(n, arrays) & made.keys() for n in section.nodes):
        return False  # a product's right operand is read whole in every row: not one row of storage
    return all(made[nid].ndim == len(space) for nid in _reads(section, arrays) if nid in made)
