"""Walks over kernel IR (kir.py): the statements nested in a block, the expressions a statement reads, the names a
block uses without defining them."""

from __future__ import annotations

from . import kir


def expressions(statement: kir.Stmt):
    """The expressions a statement reads directly (not those of nested statements)."""
    if isinstance(statement, kir.Let):
        return (statement.value,)
    if isinstance(statement, kir.Store):
        return (statement.index, statement.value)
    if isinstance(statement, kir.For):
        return (statement.start, statement.stop)
    if isinstance(statement, kir.If):
        return (statement.test,)
    if isinstance(statement, kir.Gemm):
        return (statement.a_offset, *statement.a_strides, statement.b_offset, *statement.b_strides,
                statement.c_offset, statement.m, statement.k, statement.n)
    if isinstance(statement, kir.GemmUpdate):
        return (*expressions(statement.product), statement.alpha)
    if isinstance(statement, kir.Gram):
        return (statement.b_offset, *statement.b_strides, statement.c_offset, statement.k, statement.n)
    if isinstance(statement, kir.CallPart):
        return tuple(a for a in statement.args if isinstance(a, kir.Expr))
    return ()


def children(statement: kir.Stmt) -> tuple[kir.Stmt, ...]:
    if isinstance(statement, kir.For):
        return statement.body
    if isinstance(statement, kir.If):
        return statement.body + statement.orelse
    if isinstance(statement, kir.GemmUpdate):
        return statement.fallback
    return ()


def walk(statements) -> list[kir.Stmt]:
    """Every statement, nested ones included, in order."""
    out, stack = [], list(reversed(list(statements)))
    while stack:
        statement = stack.pop()
        out.append(statement)
        stack.extend(reversed(children(statement)))
    return out


def sub_expressions(expr: kir.Expr):
    """``expr`` and every expression inside it."""
    stack = [expr]
    while stack:
        e = stack.pop()
        yield e
        stack.extend(operands(e))


def operands(e: kir.Expr) -> tuple[kir.Expr, ...]:
    """The expressions ``e`` reads directly."""
    if isinstance(e, kir.Load):
        return (e.index,)
    if isinstance(e, kir.Op | kir.Call):
        return e.args
    if isinstance(e, kir.Cast | kir.Bitcast):
        return (e.value,)
    if isinstance(e, kir.Disjoint):
        return e.sizes
    return ()


def free_names(statements) -> tuple[dict[str, kir.Array], dict[str, kir.Var]]:
    """The arrays that ``statements`` use, and the variables they read without assigning them (what a function
    made of them takes as parameters)."""
    arrays: dict[str, kir.Array] = {}
    read: dict[str, kir.Var] = {}
    assigned: set[str] = set()
    for statement in walk(statements):
        if isinstance(statement, kir.Store):
            arrays[statement.array.name] = statement.array
        elif isinstance(statement, kir.Gemm | kir.GemmUpdate):
            product = statement.product if isinstance(statement, kir.GemmUpdate) else statement
            arrays.update((a.name, a) for a in (product.a, product.b, product.c))
        elif isinstance(statement, kir.Gram):
            arrays.update((a.name, a) for a in (statement.b, statement.c))
        elif isinstance(statement, kir.CallPart):
            arrays.update((a.name, a) for a in statement.args if isinstance(a, kir.Array))
        if isinstance(statement, kir.Let | kir.For):
            assigned.add(statement.var.name)
        for expr in expressions(statement):
            for e in sub_expressions(expr):
                if isinstance(e, kir.Var):
                    read.setdefault(e.name, e)
                elif isinstance(e, kir.Load):
                    arrays[e.array.name] = e.array
                elif isinstance(e, kir.Disjoint):
                    arrays.update((a.name, a) for a in e.arrays)
    return arrays, {name: var for name, var in read.items() if name not in assigned}


def read_once(statements) -> set[str]:
    """The variables ``statements`` assign once and read once, not in an arm of a ``select`` (Python evaluates
    those lazily: a value written into one would run under a branch, which can keep a loop from vectorizing)."""
    assigned: dict[str, int] = {}
    reads: dict[str, int] = {}
    for statement in walk(statements):
        if isinstance(statement, kir.Let | kir.For):
            assigned[statement.var.name] = assigned.get(statement.var.name, 0) + 1
        stack = [(e, False) for e in expressions(statement)]
        while stack:
            e, lazy = stack.pop()
            if isinstance(e, kir.Var):
                reads[e.name] = reads.get(e.name, 0) + (2 if lazy else 1)
            elif isinstance(e, kir.Op) and e.op == "select":
                stack += [(e.args[0], lazy), (e.args[1], True), (e.args[2], True)]
            else:
                stack += [(a, lazy) for a in operands(e)]
    return {name for name, count in assigned.items() if count == 1 and reads.get(name) == 1}


def reader(statements, at: int, names: set[str], loads: bool) -> int | None:
    """Where the let ``statements[at]`` is read, if that is a later let or store of the same block and nothing
    between them could change what its value reads: ``names``, the variables, and ``loads``, whether it loads, with
    what was written into the value (a store, when it loads; a let of a variable it reads)."""
    let = statements[at]
    for k in range(at + 1, len(statements)):
        statement = statements[k]
        if isinstance(statement, kir.Let | kir.Store) and any(
                isinstance(e, kir.Var) and e.name == let.var.name
                for expr in expressions(statement) for e in sub_expressions(expr)):
            return k
        if not (isinstance(statement, kir.Comment) or isinstance(statement, kir.Let) and statement.var.name not in
                names or isinstance(statement, kir.Store) and not loads):
            return None
    return None
