"""The derivatives of ``scan``: backpropagation through time (VJP) and forward mode (JVP), each a scan again.

The VJP is a scan the other way: its carries are the cotangents of the forward carries, one write-only carry per
sequence (its cotangent at each step) and one accumulator per outside value; its body is the forward body's VJP
graph. It reads what the forward loop already computed instead of computing it again: the carries entering and
leaving each step, and *residuals*, the values of the forward body that the VJP graph reads (a pre-activation, a
gate), which the forward loop stores as it goes (sibling nodes of mode "residual": the same loop in compiled code).
The JVP is a scan in the same direction carrying the tangents, reading the forward carries as a sequence, so it
is linear in the tangents (what forward mode needs) and recomputes nothing.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

from ..ir import FLOAT_DTYPES, Node, NodeMap, depends_on, fixed_size, toposort
from ..ops import OPS, cast, make, matmul, reshape, tensor, transpose, zeros
from ..ops import sum as reduce_sum
from ..ops.functions import TRANSCENDENTAL
from .reverse import vjp_graph
from .scan import scan_nodes, substitute, tracing

#: View ops looked through when choosing a residual: save the array, or the slices of it that are read when they
#: are smaller together (an LSTM's derivative reads a quarter of each pre-activation row).
_VIEWS = ("slice", "transpose", "reshape")


def _time_first(x: Node, lead: int) -> Node:
    """``x`` of shape ``(*batch, T, ...)`` as ``(T, *batch, ...)`` (``lead`` batch axes)."""
    return transpose(x, (lead,) + tuple(range(lead)) + tuple(range(lead + 1, x.ndim))) if lead else x


def _time_back(x: Node, lead: int) -> Node:
    """``x`` of shape ``(T, *batch, ...)`` as ``(*batch, T, ...)``."""
    return transpose(x, tuple(range(1, lead + 1)) + (0,) + tuple(range(lead + 1, x.ndim))) if lead else x


def _sibling(inputs: tuple[Node, ...], attrs: dict, output: int | Node, mode: str) -> Node:
    """The forward loop's node returning ``output`` in ``mode`` (computed by the same compiled loop)."""
    shared = {k: v for k, v in attrs.items() if k not in ("output", "mode")}
    return make("scan", inputs, output=output, mode=mode, **shared)


def _stacked(inputs: tuple[Node, ...], attrs: dict) -> list[Node]:
    """The forward loop's carries entering each step, then after each step (stacked in step order)."""
    return [_sibling(inputs, attrs, k, mode) for mode in ("before", "after") for k in range(attrs["carries"])]


class _Step:
    """The forward body at one step, as a graph over given carry and element values and fresh leaves for the
    outside values: a derivative is taken with respect to those leaves, which are independent even when one
    outside value is computed from another (``U`` and ``U.T``); :meth:`close` puts the scan's own inputs back.
    ``extra``: body values besides the new carries that the derivative needs (a residual's value)."""

    def __init__(self, attrs: dict, values: list[Node], extra: list[Node] = ()) -> None:
        params = attrs["params"]
        with tracing([*values, *attrs["body"], *params]) as trace:
            self.leaves = [tensor(f"{trace}_v{k}", p.shape, p.dtype) for k, p in enumerate(params[len(values):])]
        self.values = values
        self.new_carry_of: dict[int, Node] = {}  # a stored new carry -> the step's node computing it (see reuse)
        bound: dict[int, Node] = {}
        mapped = substitute(list(attrs["body"]) + list(extra), {id(p): v for p, v in zip(params, values + self.leaves)},
                            bound)
        self.roots, self.extra = mapped[:len(attrs["body"])], mapped[len(attrs["body"]):]
        # a node of this step's graph -> the body node it is (for the values the forward loop can store)
        self.body_of: NodeMap[Node] = NodeMap()
        for b in toposort(list(attrs["body"]) + list(extra)):
            if id(b) in bound:
                self.body_of[bound[id(b)]] = b

    def close(self, nodes: list[Node], frees: list[Node]) -> list[Node]:
        return substitute(nodes, {id(leaf): value for leaf, value in zip(self.leaves, frees)})

    def reuse(self, nodes: list[Node], results: list[Node], saved: list[Node], residuals: list[Node]) -> list[Node]:
        """``nodes`` reading the step's new carries from ``results`` and the body values ``saved`` from
        ``residuals`` (what the forward loop stored at this step) instead of computing them again."""
        carried = [(a, r) for a, r in zip(self.roots, results) if a.op not in ("input", "constant")]
        self.new_carry_of = {id(r): a for a, r in carried}
        mapping = {id(a): r for a, r in carried}
        located = {id(body): node for node in toposort(self.roots + self.extra)
                   for body in [self.body_of.get(node)] if body is not None}
        mapping.update((id(located[id(b)]), r) for b, r in zip(saved, residuals) if id(b) in located)
        return substitute(nodes, mapping)

    def frontier(self, nodes: list[Node]) -> list[Node]:
        """The body values that ``nodes`` read from this step's graph (not the new carries, nor values that do not
        change from step to step): what the forward loop should store for them. Views are looked through to the
        array they show; its slices are stored instead when they are read alone and are smaller together. A value
        computed from the new carries is stored too when it costs more than a store (an LSTM's tanh(c), a product)
        rather than computed again from them; a cheap elementwise one is computed again from what it reads."""
        nodes = substitute(nodes, self.new_carry_of)  # back from the stored new carries to the step's own
        order = toposort(self.roots + self.extra)
        varying = depends_on(order, self.values)
        from_new = depends_on(order, self.new_carry_of.values())
        in_step = {id(n) for n in order}
        carries = {id(r) for r in self.roots}
        read: dict[int, tuple[Node, dict[int, Node]]] = {}  # array -> the parts read (its slices, or itself) by id

        def consider(value: Node) -> None:
            if id(value) in carries:  # a new carry, even a view of a row, is read from the stored carries
                return
            part = None  # the slice nearest the reader
            while value.op in _VIEWS and id(value.inputs[0]) in varying and value.inputs[0].op != "input":
                part = value if part is None and value.op == "slice" else part
                value = value.inputs[0]
            if id(value) in from_new and id(value) not in carries and _cheap(value):
                for operand in value.inputs:
                    consider(operand)
            elif id(value) in varying and id(value) not in carries and value.op != "input" and value in self.body_of:
                part = value if part is None else part
                read.setdefault(id(value), (value, {}))[1].setdefault(id(part), part)

        for node in toposort(nodes):
            if id(node) not in in_step:
                for value in node.inputs:
                    consider(value)
        for node in nodes:
            if id(node) in in_step:
                consider(node)
        chosen: list[Node] = []
        for array, parts in read.values():
            slices = list(parts.values())
            alone = all(p is not array and p in self.body_of for p in slices) and _smaller(slices, array)
            chosen += [self.body_of[p] for p in slices] if alone else [self.body_of[array]]
        return chosen


def _cheap(node: Node) -> bool:
    """An elementwise op that costs less to compute again than to store and load (no transcendental function)."""
    return OPS[node.op].kind == "elementwise" and node.op not in TRANSCENDENTAL


def _smaller(parts: list[Node], whole: Node) -> bool:
    """Whether ``parts`` (slices of ``whole``, along its fixed-size axes) hold fewer elements together than it."""
    named = [d for d in whole.shape if not isinstance(d, int)]
    return (all([d for d in p.shape if not isinstance(d, int)] == named for p in parts)
            and sum(fixed_size(p.shape) for p in parts) < fixed_size(whole.shape))


def scan_vjp(g: Node, out: Node, *inputs: Node, **attrs: Any) -> list[Node | None]:
    """Backpropagation through time: a scan the other way whose body is the forward body's VJP, reading the
    forward loop's stored carries and residuals. An outside value's gradient that is a sum over the steps of
    products (``hᵀ·dz``) or batch sums of per-step values is not accumulated in the loop: the loop stores the
    factors (or finds them stored already) and one product over all steps follows it (see :class:`_Summed`)."""
    from ..rewrite import simplify  # rewrite's rules know nothing of loops; imported late like reverse.py does

    n, m, output, mode = attrs["carries"], attrs["sequences"], attrs["output"], attrs["mode"]
    seqs, frees = list(inputs[n:n + m]), list(inputs[n + m:])
    batch = g.shape[:g.ndim - out.ndim]
    float_seqs = [j for j, s in enumerate(seqs) if s.dtype in FLOAT_DTYPES]
    float_frees = [f for f, v in enumerate(frees) if v.dtype in FLOAT_DTYPES]
    streamed = [] if mode == "final" else [_time_first(g, len(batch))]  # the returned value's, step by step

    def derivative(cotangents: list[Node], elements: list[Node], saved: list[Node],
                   summed: list[int]) -> tuple[list[Node], _Step, dict[int, Node]]:
        """The new carries (an accumulator per outside value not in ``summed``), the step, and each outside
        value's cotangent at this step."""
        g_t = elements[0] if streamed else None
        h, results = elements[len(streamed):len(streamed) + n], elements[len(streamed) + n:len(streamed) + 2 * n]
        x, residuals = elements[len(streamed) + 2 * n:len(streamed) + 2 * n + m], elements[len(streamed) + 2 * n + m:]
        step = _Step(attrs, h + x, [output] if mode == "residual" else [])
        outs = step.roots + step.extra
        totals = [cotangents[k] + g_t if mode == "after" and k == output else cotangents[k] for k in range(n)]
        adjoint = vjp_graph(outs, totals + ([g_t] if mode == "residual" else []),
                            h + [x[j] for j in float_seqs] + [step.leaves[f] for f in float_frees], batch)

        def cot(node: Node) -> Node:
            found = adjoint.get(id(node))
            return cast(found, node.dtype) if found is not None else zeros(batch + node.shape, node.dtype)

        new = [cot(v) + g_t if mode == "before" and k == output else cot(v) for k, v in enumerate(h)]
        new += [cot(x[j]) for j in float_seqs]
        per_step = [cot(step.leaves[f]) for f in float_frees]
        accumulated = [c for f, c in zip(float_frees, per_step) if f not in summed]
        new += [acc + c for acc, c in zip(cotangents[n + len(float_seqs):], accumulated)]
        reused = step.reuse(new + per_step, results, saved, residuals)
        return reused[:len(new)], step, dict(zip(float_frees, reused[len(new):]))

    elements = streamed + _stacked(inputs, attrs) + seqs
    start = [g if mode == "final" and k == output else zeros(batch + c.shape, c.dtype)
             for k, c in enumerate(inputs[:n])]
    start += [zeros(batch + seqs[j].shape[1:], seqs[j].dtype) for j in float_seqs]
    accumulators = {f: zeros(batch + frees[f].shape, frees[f].dtype) for f in float_frees}
    saved, summed = _trace_step(derivative, start + list(accumulators.values()), elements, float_frees)
    residuals = [_sibling(inputs, attrs, value, "residual") for value in saved]
    kept = [f for f in float_frees if f not in summed]
    start += [accumulators[f] for f in kept]
    plan = _Summed(range(n, n + len(float_seqs)), len(start))

    def backward(cotangents: list[Node], values: list[Node]) -> list[Node]:
        new, step, per_step = derivative(cotangents, values, saved, summed)
        plan.trace(new, cotangents, values, {f: per_step[f] for f in summed})
        return simplify(step.close(new + plan.factors, frees))

    modes = ["final"] * n + ["after"] * len(float_seqs) + ["final"] * len(kept)
    nodes = scan_nodes(backward, start, elements + residuals, attrs["length"], not attrs["reverse"], modes)
    by_seq = dict(zip(float_seqs, nodes[n:n + len(float_seqs)]))
    by_free = dict(zip(kept, nodes[n + len(float_seqs):len(start)]))
    by_free.update(plan.gradients(nodes, elements + residuals))
    grads: list[Node | None] = list(nodes[:n])
    grads += [_time_back(by_seq[j], len(batch)) if j in by_seq else None for j in range(m)]
    return grads + [by_free.get(f) for f in range(len(frees))]


def _trace_step(derivative, start: list[Node], elements: list[Node],
                float_frees: list[int]) -> tuple[list[Node], list[int]]:
    """One step of ``derivative`` traced on placeholders (every outside value accumulated): the forward body
    values it reads (what the forward loop must store) and the outside values whose per-step cotangents
    :func:`_terms` splits (summed after the loop instead)."""
    with tracing([*start, *elements]) as trace:
        cotangents = [tensor(f"{trace}_c{k}", c.shape, c.dtype) for k, c in enumerate(start)]
        values = [tensor(f"{trace}_x{k}", e.shape[1:], e.dtype) for k, e in enumerate(elements)]
        new, step, per_step = derivative(cotangents, values, [], [])
    varying = depends_on(toposort(list(per_step.values())), cotangents + values)
    return step.frontier(new), [f for f in float_frees if _terms(per_step[f], varying) is not None]


def _terms(total: Node, varying: set[int]) -> list[tuple[Node, Node]] | None:
    """``total`` (an outside value's cotangent at one step) as a sum of terms that a sum over the steps absorbs,
    each with its core: a product of two values that change from step to step, or a sum over axes of one, under
    at most one reshape. None when it is not such a sum."""
    if total.op == "add" and all(i.shape == total.shape for i in total.inputs):
        parts = [_terms(i, varying) for i in total.inputs]
        return None if any(p is None for p in parts) else [term for part in parts for term in part]
    core = total.inputs[0] if total.op == "reshape" else total
    if core.op == "matmul" and all(id(i) in varying and i.ndim == core.ndim for i in core.inputs):
        return [(total, core)]
    # a batch sum of a product (an inner loop's weight gradient, in a loop of loops) keeps its accumulator: its
    # factor would be the whole batch of products at every step
    summed = core.inputs[0] if core.op == "sum" else None
    return [(total, core)] if summed is not None and id(summed) in varying and summed.op != "matmul" else None


class _Summed:
    """Outside values whose gradient is summed after the backward loop. While the body is traced, each factor of
    their per-step terms is found among the values the loop reads at each step (a stored forward carry or
    residual), the sequence cotangents it returns (``returned`` carries), or else it becomes a value the loop
    stores at every step (:attr:`factors`, returned after the ``carries``). After the loop a term is one
    reduction of stacked factors over the steps: ``Σ_t h_tᵀ dz_t`` is one matrix product over all steps and rows
    (emit_ops' contracted product), not a product and an accumulation per step."""

    def __init__(self, returned: range, carries: int) -> None:
        self.returned, self.carries = returned, carries
        self.factors: list[Node] = []
        self.terms: dict[int, list[tuple[Node, Node | None, list]]] = {}
        self.sources: dict[int, tuple[str, int]] = {}

    def trace(self, new: list[Node], cotangents: list[Node], values: list[Node], per_step: dict[int, Node]) -> None:
        """Split each outside value's cotangent at the traced step (``per_step``) into terms over located factors."""
        self.factors, self.terms = [], {}
        self.sources = {id(v): ("element", k) for k, v in enumerate(values)}
        self.sources.update((id(new[k]), ("carry", k)) for k in self.returned)
        varying = depends_on(toposort(list(per_step.values())), cotangents + values)
        for f, total in per_step.items():
            terms = _terms(total, varying) or [(total, None)]  # replaced by a forward residual: stored as is
            self.terms[f] = [(term, core, [self._locate(i) for i in (core.inputs if core is not None else [term])])
                             for term, core in terms]

    def _locate(self, node: Node) -> tuple[tuple[str, int], list[tuple[int, ...]]]:
        """Where the loop keeps ``node`` at every step, and the transposes (outermost first) applied to it there."""
        views = []
        while node.op == "transpose" and id(node) not in self.sources:
            views.append(node.attr("perm"))
            node = node.inputs[0]
        if id(node) not in self.sources:
            self.sources[id(node)] = ("factor", len(self.factors))
            self.factors.append(node)
        return self.sources[id(node)], views

    def gradients(self, nodes: list[Node], elements: list[Node]) -> dict[int, Node]:
        """Each summed outside value's gradient, from the backward loop's ``nodes`` and its read ``elements``."""
        def stacked(located) -> Node:
            (kind, k), views = located
            value = elements[k] if kind == "element" else nodes[k] if kind == "carry" else nodes[self.carries + k]
            for perm in reversed(views):
                value = transpose(value, (0,) + tuple(p + 1 for p in perm))
            return value

        def over_steps(term: Node, core: Node | None, factors: list) -> Node:
            if core is None:
                return reduce_sum(stacked(factors[0]), 0)
            if core.op == "matmul":
                return reshape(reduce_sum(matmul(stacked(factors[0]), stacked(factors[1])), 0), term.shape)
            axes = (0,) + tuple(a + 1 for a in core.attr("axes"))
            return reshape(reduce_sum(stacked(factors[0]), axes, keepdims=True), term.shape)

        return {f: functools.reduce(operator.add, [over_steps(*term) for term in terms])
                for f, terms in self.terms.items()}


def scan_jvp(tangents: list[Node | None], out: Node, *inputs: Node, **attrs: Any) -> Node:
    """Forward mode through the loop: a scan in the same direction carrying the carries' tangents, reading the
    forward carries as a sequence (so it is linear in the tangents and recomputes nothing)."""
    from ..rewrite import simplify
    from .forward import tangent_graph

    n, m, output, mode = attrs["carries"], attrs["sequences"], attrs["output"], attrs["mode"]
    frees = list(inputs[n + m:])
    given = next(k for k, t in enumerate(tangents) if t is not None)
    batch = tangents[given].shape[:tangents[given].ndim - inputs[given].ndim]
    moving = [j for j in range(m) if tangents[n + j] is not None]
    fixed = [f for f in range(len(frees)) if tangents[n + m + f] is not None]
    residual = mode == "residual"

    def forward(carry_tangents: list[Node], elements: list[Node]) -> list[Node]:
        values = elements[:n] + elements[2 * n:2 * n + m]
        results, element_tangents = elements[n:2 * n], elements[2 * n + m:]
        step = _Step(attrs, values, [output] if residual else [])
        wrt = values[:n] + [values[n + j] for j in moving] + [step.leaves[f] for f in fixed]
        directions = carry_tangents + element_tangents + [tangents[n + m + f] for f in fixed]
        found = tangent_graph(step.roots + step.extra, wrt, directions, batch)
        new = [cast(found[id(r)], r.dtype) if id(r) in found else zeros(batch + r.shape, r.dtype)
               for r in step.roots + step.extra]
        return simplify(step.close(step.reuse(new, results, [], []), frees))

    start = [t if t is not None else zeros(batch + c.shape, c.dtype) for t, c in zip(tangents[:n], inputs[:n])]
    elements = _stacked(inputs, attrs) + list(inputs[n:n + m]) + [_time_first(tangents[n + j], len(batch))
                                                                   for j in moving]
    nodes = scan_nodes(forward, start, elements, attrs["length"], attrs["reverse"],
                       "after" if residual else mode)
    result = nodes[-1] if residual else nodes[output]
    return result if mode == "final" else _time_back(result, len(batch))
