"""Graphs through pickle and copy. A node pickles as the flat table of its graph (ir/serialize.py) with the ops made
at run time that it reads, as data to make them from (a user module's expression text, parsed by symdiff's grammar,
never evaluated); the receiving process makes those it lacks. Compiled functions pickle their graphs the same way.
Nodes are immutable and interned, so a copy of a node is the node itself (ir/node.py)."""

from __future__ import annotations

import copyreg
from collections.abc import Sequence

from ..ir import Node
from ..ir.serialize import Record, from_table, to_table
from .registry import MAKERS, OPS

#: An op made at run time, as it travels: (name, definition, ``OpDef.remake``).
MadeOp = tuple[str, str, tuple]


def graph_state(roots: Sequence[Node]) -> tuple[list[Record], list[int], list[MadeOp]]:
    """``(records, positions of roots, ops made at run time)``: what rebuilds ``roots`` in another process."""
    records, positions = to_table(roots)
    made = sorted({(op, OPS[op].definition, OPS[op].remake) for op, *_ in records if OPS[op].remake})
    return records, positions, made


def graph_nodes(records: Sequence[Record], made: Sequence[MadeOp], what: str) -> list[Node]:
    """The nodes of ``records`` (table order), after making the ops of ``made`` this process lacks; each must then
    compute what the sender's did. ``what`` names the thing unpickled in errors."""
    for op, definition, (maker, *arguments) in made:
        if op not in OPS and maker in MAKERS:
            try:
                MAKERS[maker](*arguments)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"unpickling {what}: cannot make op {op!r} here: {exc}") from None
        if op in OPS and OPS[op].definition != definition:
            raise ValueError(f"unpickling {what}: op {op!r} computes {OPS[op].definition} in this "
                             f"process, but {definition} where it was pickled; give the two different names")
    missing = sorted({record[0] for record in records} - set(OPS))
    if missing:
        raise ValueError(f"unpickling {what}: op {missing[0]!r} is not defined in this process; "
                         "define it (e.g. sd.nn.elementwise) before unpickling")
    return from_table(records)


def _restore_node(records: list[Record], position: int, made: list[MadeOp]) -> Node:
    return graph_nodes(records, made, "a graph node")[position]


def _reduce_node(node: Node) -> tuple:
    records, (position,), made = graph_state([node])
    return _restore_node, (records, position, made)


copyreg.pickle(Node, _reduce_node)
