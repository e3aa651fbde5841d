"""Variable webs: the assignments of a name that meet at some read (through a loop or an if), as Numba's SSA
form joins them with phi nodes. A web has one kind (the unification of its assignments); separate webs of
the same name may differ, e.g. an accumulator ``_acc`` that is float64 in one reduction and float32 in the
next. Typing per web, not per name, is what makes the native backend's arithmetic match Numba's bit for bit.
"""

from __future__ import annotations

import ast

State = dict[str, frozenset]  # name -> the definitions that may reach this point


class Webs:
    """``web_of[key]`` for every definition (an ``Assign``/``AugAssign``/``For`` node's id, or
    ``("param", name)``) and every read (a ``Name`` node's id; for ``x += ...`` the target's id);
    ``reaching[read]``: the definitions that may reach that read."""

    def __init__(self, tree: ast.FunctionDef) -> None:
        self._parent: dict = {}
        self._uses: dict[int, frozenset] = {}
        # A name assigned once has one web; only the others (accumulators, counters, loop indices) are
        # tracked through the control flow, which keeps the states small.
        definitions: dict[str, list] = {a.arg: [("param", a.arg)] for a in tree.args.args}
        for node in ast.walk(tree):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target \
                if isinstance(node, (ast.AugAssign, ast.For)) else None
            if isinstance(target, ast.Name):
                definitions.setdefault(target.id, []).append(id(node))
        self._single = {name: keys[0] for name, keys in definitions.items() if len(keys) == 1}
        state = {a.arg: self._define(("param", a.arg)) for a in tree.args.args if a.arg not in self._single}
        for key in self._single.values():
            self._define(key)
        self._block(tree.body, state)
        self.web_of = {key: self._find(key) for key in self._parent}
        self.web_of.update({use: self._find(next(iter(defs))) for use, defs in self._uses.items() if defs})
        self.reaching = {use: defs for use, defs in self._uses.items() if defs}

    def _define(self, key) -> frozenset:
        self._parent.setdefault(key, key)
        return frozenset([key])

    def _find(self, key):
        while self._parent[key] != key:
            self._parent[key] = self._parent[self._parent[key]]
            key = self._parent[key]
        return key

    def _read(self, node: ast.AST, name: str, state: State) -> None:
        defs = frozenset([self._single[name]]) if name in self._single else state.get(name, frozenset())
        self._uses[id(node)] = self._uses.get(id(node), frozenset()) | defs
        first = next(iter(defs), None)
        for other in defs:  # every definition reaching one read joins one web
            a, b = self._find(first), self._find(other)
            if a != b:
                self._parent[max(a, b, key=repr)] = min(a, b, key=repr)  # deterministic representative

    def _expr(self, node: ast.AST, state: State) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                self._read(sub, sub.id, state)

    def _block(self, statements: list[ast.stmt], state: State) -> State | None:
        """The state after ``statements``, or None when they end in a raise."""
        for statement in statements:
            state = self._statement(statement, state)
            if state is None:
                return None
        return state

    def _statement(self, node: ast.stmt, state: State) -> State | None:
        if isinstance(node, ast.Raise):
            return None
        state = dict(state)
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            self._expr(node.value, state)
            if isinstance(target, ast.Name):
                if isinstance(node, ast.AugAssign):
                    self._read(target, target.id, state)
                if target.id not in self._single:
                    state[target.id] = self._define(id(node))
            else:
                self._expr(target, state)
        elif isinstance(node, ast.For):
            self._expr(node.iter, state)
            entry, end = state, {}
            for _ in range(len(state) + 2):  # to a fixed point: the body's definitions reach its own reads
                start = _merge(entry, end)
                if node.target.id not in self._single:
                    start[node.target.id] = self._define(id(node))
                after = self._block(node.body, start)
                new_end = after if after is not None else {}
                if new_end == end:
                    break
                end = new_end
            state = _merge(entry, end)
        elif isinstance(node, ast.If):
            self._expr(node.test, state)
            branches = [self._block(body, dict(state)) for body in (node.body, node.orelse)]
            reached = [b for b in branches if b is not None]
            if not reached:
                return None
            state = _merge(*reached) if len(reached) == 2 else reached[0]
        else:
            self._expr(node, state)
        return state


def _merge(*states: State) -> State:
    merged: dict[str, frozenset] = {}
    for state in states:
        for name, defs in state.items():
            merged[name] = merged.get(name, frozenset()) | defs
    return merged
