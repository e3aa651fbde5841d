"""A per-node memo that never keeps a node alive.

``weakref.WeakKeyDictionary`` cannot hold nodes: it compares keys with ``==``, which builds an
``equal`` node. This table is keyed by ``id`` and drops an entry when its node is collected.
"""

from __future__ import annotations

import weakref
from typing import Generic, TypeVar

from ..ir import Node

T = TypeVar("T")


class NodeMemo(Generic[T]):
    """``node -> value``, forgetting ``node`` when it is garbage-collected."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Node], T]] = {}

    def get(self, node: Node) -> T | None:
        entry = self._entries.get(id(node))
        if entry is None or entry[0]() is not node:
            return None
        return entry[1]

    def __contains__(self, node: Node) -> bool:
        return self.get(node) is not None

    def __setitem__(self, node: Node, value: T) -> None:
        key = id(node)
        entries = self._entries
        entries[key] = (weakref.ref(node, lambda _, key=key: entries.pop(key, None)), value)

    def __len__(self) -> int:
        return len(self._entries)
