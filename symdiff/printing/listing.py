"""Graph -> let-listing: elementwise parts as SymPy expressions, tensor ops as terms, shared values named once.

One walk in topological order. A node gets its own line when it is an output, when the caller names it,
when it is used more than once (unless it is as short as a name, like ``x`` or ``W2ᵀ``) or when its
inline text grows past :data:`MAX_INLINE` characters. Names are ``t1, t2, ...`` in order of appearance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import sympy as sp

from ..autodiff.scan import substitute
from ..ir import Node, ShapeError, broadcast_shapes, toposort
from ..ops import OPS, tensor
from .dump import constant_text
from .graph_to_sympy import (
    apply_elementwise,
    elements,
    is_uniform_shape,
    keeps_elements,
    layout,
    number,
    printed_inputs,
    uniform_value,
)
from .notation import TEXT, Atom, CompoundAtom, Term, render_term
from .printers import UnicodePrinter, unicode_text

#: Longest inline text (characters of the Unicode form) before a subexpression gets its own line.
MAX_INLINE = 60


@dataclass
class Listing:
    """Lines ``(name, expression)`` (name None for a lone unnamed output) and what printers need."""

    lines: list[tuple[sp.Symbol | None, sp.Basic]] = field(default_factory=list)
    atoms: dict[sp.Symbol, Term] = field(default_factory=dict)
    tensors: set[sp.Symbol] = field(default_factory=set)


def _transpose(node: Node, a: sp.Basic) -> Term:
    perm = node.attr("perm")
    swaps_last_two = len(perm) >= 2 and perm == tuple(range(len(perm) - 2)) + (len(perm) - 1, len(perm) - 2)
    return Term("transpose", (a,)) if swaps_last_two else Term("call", (a,), ("transpose", {"axes": perm}))


def _reduce(node: Node, a: sp.Basic) -> Term:
    axes = node.attr("axes")
    return Term("reduce", (a,), (node.op, () if len(axes) == node.inputs[0].ndim else axes))


def _slice(node: Node, a: sp.Basic) -> Term:
    # A stop at the end of the axis is written as nothing ("1:" rather than "1:3").
    index = tuple((start, None if stop == dim else stop, step)
                  for (start, stop, step), dim in zip(node.attr("index"), node.inputs[0].shape))
    return Term("slice", (a,), index)


def _reshape(node: Node, a: sp.Basic) -> sp.Basic | Term:
    if keeps_elements(node):  # adding or dropping length-1 axes does not change the maths
        return a
    if _turns_over(node.inputs[0].shape, node.shape):  # a column made a row (a simplified transpose)
        return Term("transpose", (a,))
    return Term("call", (a,), ("reshape", {"to": node.shape}))


def _turns_over(before: tuple, after: tuple) -> bool:
    """A 2-D (n, 1) reshaped to (1, n), or back: the same elements, as the other orientation of a vector."""
    return len(before) == len(after) == 2 and before == after[::-1] and 1 in before and before != (1, 1)


def _place(node: Node, a: sp.Basic) -> Term:
    """A slice's adjoint: ``a`` placed at a range of a zero array (``place(u, at: [1:], in: (5))``)."""
    index = tuple((start, None if stop == dim else stop, step)
                  for (start, stop, step), dim in zip(node.attr("index"), node.shape))
    return Term("call", (a,), ("place", {"at": index, "in": node.shape}))


def _scatter(node: Node, values: sp.Basic, indices: sp.Basic) -> Term:
    """A gather's adjoint: ``values`` added at ``indices`` along an axis of a zero array."""
    return Term("call", (values, indices), ("scatter", {"axis": node.attr("axis"), "in": node.shape}))


def _scan(node: Node, *args: sp.Basic) -> Term:
    """``scan(inputs..., step='h′ = tanh(x_t·W + h·U)')``: the body as a formula over the loop's own names (the
    carry ``h``, an element ``x_t`` of sequence ``x``, outside values by their input names)."""
    from .formula_text import build, text_of  # the body prints as a formula of its own

    attrs = node.attr_dict
    n, m = attrs["carries"], attrs["sequences"]
    names = ["h" if n == 1 else f"h{k}" for k in range(n)]
    names += [f"{s.name}_t" if s.op == "input" else f"x{j}_t" for j, s in enumerate(node.inputs[n:n + m])]
    names += [v.name if v.op == "input" else f"v{k}" for k, v in enumerate(node.inputs[n + m:])]
    leaves = {id(p): tensor(name, p.shape, p.dtype) for p, name in zip(attrs["params"], names)}
    body = substitute(list(attrs["body"]), leaves)
    step = text_of(build({f"{name}′": root for name, root in zip(names, body)}, None, "scan"))
    info = {"step": step.replace("\n", "; ")}
    if attrs["reverse"]:
        info["reverse"] = True
    if attrs["mode"] != "after":
        info["carry"] = attrs["mode"]
    return Term("call", tuple(args), ("scan", info))


#: Non-elementwise op -> ``(node, *operand_exprs) -> SymPy expression or Term``; others print as calls.
STRUCTURE: dict[str, Callable[..., sp.Basic | Term]] = {
    "transpose": _transpose,
    "matmul": lambda node, a, b: Term("matmul", (a, b)),
    "sum": _reduce,
    "max": _reduce,
    "min": _reduce,
    "slice": _slice,
    "reshape": _reshape,
    "count": lambda node, a: elements([node.inputs[0].shape[ax] for ax in node.attr("axes")]),
    "eye": lambda node: sp.Symbol("I"),  # the identity matrix
    "scan": _scan,
    "pad_slice": _place,
    "scatter_add": _scatter,
}


def _constant(node: Node) -> sp.Basic | Term:
    value = uniform_value(node)
    return Term("literal", (), constant_text(node.attr("value").array)) if value is None else number(value)


def _value(node: Node, args: list[sp.Basic]) -> sp.Basic | Term:
    if node.op == "input":
        return sp.Symbol(node.name)
    if node.op == "constant":
        return _constant(node)
    op = OPS[node.op]
    if op.kind == "elementwise" and op.sympy is not None:
        return apply_elementwise(node, args)
    rule = STRUCTURE.get(node.op)
    if rule is not None:
        return rule(node, *args)
    return Term("call", tuple(args), (node.op, node.attr_dict))


def _matmul_shape(a: tuple, b: tuple) -> tuple | None:
    """The shape of ``A @ B`` for operands of shapes ``a`` and ``b`` by NumPy's rules (a 1-d operand is a row on
    the left, a column on the right), or None when they do not multiply."""
    left, right = ((1,) + a if len(a) == 1 else a), (b + (1,) if len(b) == 1 else b)
    if left[-1] != right[-2]:
        return None
    try:
        batch = broadcast_shapes(left[:-2], right[:-2])
    except ShapeError:
        return None
    return batch + left[-2:-1] * (len(a) > 1) + right[-1:] * (len(b) > 1)


def _reads_orientation(node: Node, read: list[tuple]) -> bool:
    """True when ``node``'s result depends on how its operands, as their formulas read (shapes ``read``), are laid
    out: elementwise ops of two operands with more than one entry, matrix products whose operands would multiply
    to other entries, reductions over some axes, transposes, slices and reshapes that print."""
    if OPS[node.op].kind == "elementwise":
        return sum(not is_uniform_shape(i) for i in node.inputs) > 1
    if node.op == "matmul":
        product = _matmul_shape(*read)
        return product is None or _entries(product) != _entries(node.shape)
    if node.op in ("sum", "max", "min"):
        return len(node.attr("axes")) != node.inputs[0].ndim
    return node.op in ("transpose", "slice") or node.op == "reshape" and not keeps_elements(node)


def _entries(shape: tuple) -> list[int | str]:
    return [d for d in shape if d != 1]


def _read_shape(node: Node, read: list[tuple]) -> tuple:
    """The shape of ``node``'s formula as NumPy would read it, from its operands' (``read``)."""
    if node.op == "reshape" and keeps_elements(node):
        return read[0]
    try:
        if OPS[node.op].kind == "elementwise" and read:
            return broadcast_shapes(*read)
    except ShapeError:
        pass
    product = _matmul_shape(*read) if node.op == "matmul" else None
    return product if product is not None else node.shape


class _Builder:
    def __init__(self, roots: Sequence[Node], labels: Sequence[str | None], names: Mapping[Node, str]) -> None:
        self.out = Listing()
        self.order = toposort(roots)
        # An operand a node does not print (count's, tanh_grad's second) is no use of the value.
        self.uses = Counter(id(n.inputs[k]) for n in self.order for k in printed_inputs(n))
        self.uses += Counter(id(r) for r in roots)
        self.root_labels: dict[int, list[str | None]] = {}
        for root, label in zip(roots, labels):
            self.root_labels.setdefault(id(root), []).append(label)
        self.names = {id(n): name for n, name in names.items()}
        self.taken = {n.name for n in self.order if n.op == "input"} | set(self.names.values())
        self.taken |= {label for label in labels if label}
        self.counter = 0

    def atom(self, node: Node, value: sp.Basic | Term) -> sp.Basic:
        if not isinstance(value, Term):
            if isinstance(value, sp.Symbol):  # an input
                self.mark(node, value)
            return value
        text = render_term(UnicodePrinter(self.out.atoms, self.out.tensors), TEXT, value)
        symbol = (CompoundAtom if value.compound else Atom)(text)
        self.out.atoms[symbol] = value
        self.mark(node, symbol)
        return symbol

    def mark(self, node: Node, symbol: sp.Symbol) -> None:
        if not is_uniform_shape(node):
            self.out.tensors.add(symbol)

    def trivial(self, expr: sp.Basic) -> bool:
        """As short as a name: a number, an input, a named value, or the transpose of one."""
        if expr.is_Number:
            return True
        term = self.out.atoms.get(expr) if isinstance(expr, sp.Symbol) else None
        if term is None:
            return isinstance(expr, sp.Symbol)
        return term.kind == "transpose" and self.trivial(term.args[0])

    def too_long(self, expr: sp.Basic) -> bool:
        return len(unicode_text(expr, self.out.atoms, self.out.tensors)) > MAX_INLINE

    def fresh_name(self) -> str:
        while True:
            self.counter += 1
            name = f"t{self.counter}"
            if name not in self.taken:
                return name

    def name(self, node: Node, expr: sp.Basic, label: str) -> sp.Basic:
        """Give ``node`` a line under ``label`` and return the symbol that now stands for it."""
        symbol = Atom(label)
        self.mark(node, symbol)
        self.out.lines.append((symbol, expr))
        return symbol

    def operands(self, node: Node, exprs: dict[int, sp.Basic], shapes: dict[int, tuple]) -> list[sp.Basic]:
        """``node``'s operands, each with an explicit reshape where the shape its formula reads as (reshapes that
        only add or drop length-1 axes print as nothing) would broadcast or multiply otherwise than the graph:
        ``x`` as a (1, 3) row minus ``x`` as a (3, 1) column is ``x - reshape(x, to: (3, 1))``, not 0."""
        exact = node.op == "matmul"  # a 1-d operand of a product is a row or a column by its side
        faithful = [(shapes[id(i)] == i.shape) if exact else layout(shapes[id(i)]) == layout(i.shape)
                    for i in node.inputs]
        if all(faithful) or not _reads_orientation(node, [shapes[id(i)] for i in node.inputs]):
            return [exprs[id(i)] for i in node.inputs]
        for i, ok in zip(node.inputs, faithful):
            if not ok:
                exprs[id(i)] = self.atom(i, Term("call", (exprs[id(i)],), ("reshape", {"to": i.shape})))
                shapes[id(i)] = i.shape
        return [exprs[id(i)] for i in node.inputs]

    def build(self) -> Listing:
        exprs: dict[int, sp.Basic] = {}
        shapes: dict[int, tuple] = {}  # the shape each value's formula has as NumPy would read it
        for node in self.order:
            expr = self.atom(node, _value(node, self.operands(node, exprs, shapes)))
            # a number broadcasts as any shape
            shapes[id(node)] = () if expr.is_Number else _read_shape(node, [shapes[id(i)] for i in node.inputs])
            labels = self.root_labels.get(id(node))
            if labels:
                expr = self.emit_root(node, expr, labels)
            elif id(node) in self.names and node.op != "input":
                expr = self.name(node, expr, self.names[id(node)])
            elif not self.trivial(expr) and (self.uses[id(node)] > 1 or self.too_long(expr)):
                expr = self.name(node, expr, self.fresh_name())
            exprs[id(node)] = expr
        return self.out

    def emit_root(self, node: Node, expr: sp.Basic, labels: list[str | None]) -> sp.Basic:
        if labels == [None]:
            self.out.lines.append((None, expr))
            return expr
        first = self.name(node, expr, labels[0])
        for label in labels[1:]:
            self.out.lines.append((Atom(label), first))
        return first


def build_listing(roots: Sequence[Node], labels: Sequence[str | None], names: Mapping[Node, str]) -> Listing:
    """The let-listing of ``roots`` (output lines labelled by ``labels``; ``names`` pins names of inner nodes)."""
    return _Builder(roots, labels, names).build()
