"""Loops along a sequence axis: ``sd.scan``, the primitive behind recurrent networks.

A scan applies a *body* graph once per step of a sequence, carrying state from step to step. The body is a closed
graph over placeholders (one per carry, one per sequence element, one per value it reads from outside the loop),
stored in the node's attributes, so the graph's size does not depend on the sequence length and every consumer
(evaluator, autodiff, code generator) handles the loop once. A scan node returns one carry: stacked over the
steps ``(T, *carry)`` or, for the accumulators of a derivative, its final value; scans with the same inputs and
body differing only in the carry they return are *siblings* that compiled kernels compute in one loop.

The derivative of a scan is a scan running the other way (backpropagation through time): its carries are the
cotangents of the forward carries, one write-only carry per sequence (its cotangent at each step) and one
accumulator per outside value; its body is the forward body's VJP graph. So gradients of gradients, Hessian-vector
products and forward mode (derived from the VJP by transposition) all work through loops.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ir import FLOAT_DTYPES, Node, ShapeError, bind_dims, broadcast_shapes, depends_on, toposort
from ..ops import broadcast_to, cast, make, tensor, transpose, zeros
from ..ops.convert import as_node
from ..ops.interpret import interpret
from ..ops.registry import defop
from .reverse import vjp_graph

_TRACE_IDS = itertools.count()
#: A traced body: ``(carries, sequence elements) -> new carries``.
Step = Callable[[list[Node], list[Node]], list[Node]]


def scan(step: Callable[..., Any], init: Node | Sequence[Node], sequences: Node | Sequence[Node] = (), *,
         length: int | str | None = None, reverse: bool = False, keep: str = "all") -> Node | tuple[Node, ...]:
    """Apply ``step(carry, *elements) -> new_carry`` along the leading axis of ``sequences``.

    ``init`` is the carry before the first step: a node, or a tuple of nodes (then ``step`` receives and returns
    a tuple). ``sequences`` (a node or a tuple, each of shape ``(T, ...)``; ``T`` may be a named dim) are read one
    step at a time; ``length`` gives ``T`` when there are none. ``reverse=True`` walks from the last step to the
    first. Returns the carry after every step, stacked: shape ``(T, *carry.shape)`` (a tuple for a tuple carry);
    entry ``t`` is the carry after step ``t``. ``keep="last"`` returns only the final carry (the way to get it
    when ``T`` is a named dim, which cannot be indexed).
    The graph does not grow with ``T``: the loop runs inside one node, and its derivative is again a scan.
    """
    if keep not in ("all", "last"):
        raise ValueError(f"scan: keep must be 'all' or 'last', got {keep!r}")
    single = isinstance(init, Node) or not isinstance(init, (tuple, list))
    inits = [as_node(init)] if single else [as_node(c) for c in init]
    seqs = [as_node(sequences)] if isinstance(sequences, Node) else [as_node(s) for s in sequences]
    if not inits:
        raise ValueError("scan: init must hold at least one carry")
    for k, s in enumerate(seqs):
        if s.ndim == 0:
            raise ShapeError(f"scan: sequence {k} is 0-d; sequences are read along their leading axis")
    lengths = {s.shape[0] for s in seqs}
    if len(lengths) > 1:
        raise ShapeError(f"scan: the sequences disagree on their length (leading dims {[s.shape[0] for s in seqs]})")
    if seqs:
        steps = seqs[0].shape[0]
        if length is not None and length != steps:
            raise ShapeError(f"scan: length={length!r} but the sequences have {steps!r} steps")
    elif not isinstance(length, int) or isinstance(length, bool) or length < 0:
        raise ValueError(f"scan: without sequences, length must be an int >= 0, got {length!r}")
    else:
        steps = length

    def traced(carries: list[Node], elements: list[Node]) -> list[Node]:
        result = step(carries[0] if single else tuple(carries), *elements)
        results = [result] if single else result
        if single and not isinstance(result, Node) and isinstance(result, (tuple, list)):
            raise TypeError("scan: step returned a tuple, but init is a single node; return one node")
        if not single and (not isinstance(result, (tuple, list)) or len(result) != len(carries)):
            raise TypeError(f"scan: step must return a tuple of {len(carries)} carries, got {result!r}")
        return [_conform(as_node(r), c, k) for k, (r, c) in enumerate(zip(results, carries))]

    nodes = scan_nodes(traced, inits, seqs, steps, reverse, "final" if keep == "last" else "after")
    return nodes[0] if single else tuple(nodes)


def _conform(value: Node, carry: Node, k: int) -> Node:
    """The step's new carry ``k`` in the carry's shape and dtype (a smaller value broadcasts)."""
    if value.dtype != carry.dtype:
        raise TypeError(f"scan: step returned dtype {value.dtype} for carry {k}, whose dtype is {carry.dtype}; "
                        f"cast it with sd.cast(..., {carry.dtype!r}) or start from an init of that dtype")
    if value.shape != carry.shape:
        try:
            ok = broadcast_shapes(value.shape, carry.shape) == carry.shape
        except ShapeError:
            ok = False
        if not ok:
            raise ShapeError(f"scan: step returned shape {value.shape} for carry {k}, whose shape is {carry.shape}")
        value = broadcast_to(value, carry.shape)
    return value


def scan_nodes(step: Step, inits: Sequence[Node], seqs: Sequence[Node], length, reverse: bool,
               modes: str | Sequence[str] = "after") -> list[Node]:
    """One scan node per carry, tracing ``step`` once on placeholders and closing the body over the outside values
    it reads. ``modes`` (one, or one per carry) picks what each node returns: "after" (the carry after each step,
    stacked), "before" (the carry entering each step, stacked) or "final"."""
    trace = next(_TRACE_IDS)
    carry_args = [tensor(f"_scan_trace{trace}_c{k}", c.shape, c.dtype) for k, c in enumerate(inits)]
    element_args = [tensor(f"_scan_trace{trace}_x{k}", s.shape[1:], s.dtype) for k, s in enumerate(seqs)]
    body = step(carry_args, element_args)
    order = toposort(body)
    variant = depends_on(order, carry_args + element_args)
    used = {id(i) for n in order if id(n) in variant for i in n.inputs} | {id(b) for b in body}
    # drop sequences the body never reads (a derivative's stacked values it no longer needs)
    kept = [k for k, a in enumerate(element_args) if id(a) in used]
    element_args, seqs = [element_args[k] for k in kept], [seqs[k] for k in kept]
    frees = _outside_values(order, variant, body)
    depth = 1 + max((n.attr("depth") for n in order if n.op == "scan"), default=0)
    params = [tensor(f"_scan{depth}_c{k}", c.shape, c.dtype) for k, c in enumerate(inits)]
    params += [tensor(f"_scan{depth}_x{k}", a.shape, a.dtype) for k, a in enumerate(element_args)]
    params += [tensor(f"_scan{depth}_v{k}", f.shape, f.dtype) for k, f in enumerate(frees)]
    body = substitute(body, dict(zip(map(id, carry_args + element_args + frees), params)))
    attrs = {"body": tuple(body), "params": tuple(params), "carries": len(inits), "sequences": len(seqs),
             "length": length, "reverse": bool(reverse), "depth": depth}
    inputs = [*inits, *seqs, *frees]
    modes = [modes] * len(inits) if isinstance(modes, str) else list(modes)
    return [make("scan", inputs, output=k, mode=mode, **attrs) for k, mode in enumerate(modes)]


def _outside_values(order: list[Node], variant: set[int], body: list[Node]) -> list[Node]:
    """The loop-invariant values the body reads: maximal subgraphs not depending on a placeholder (constants stay
    inside). They become inputs of the scan, computed once before the loop."""
    frees: list[Node] = []
    seen: set[int] = set()
    candidates = [i for n in order if id(n) in variant for i in n.inputs] + list(body)
    for node in candidates:
        if id(node) not in variant and node.op != "constant" and id(node) not in seen:
            seen.add(id(node))
            frees.append(node)
    return frees


def substitute(roots: Sequence[Node], mapping: dict[int, Node]) -> list[Node]:
    """``roots`` rebuilt with the nodes whose ids ``mapping`` holds replaced by their values."""
    bound = dict(mapping)
    for node in toposort(roots, stop=bound):
        if id(node) in bound or not node.inputs:
            continue
        inputs = [bound.get(id(i), i) for i in node.inputs]
        if any(a is not b for a, b in zip(inputs, node.inputs)):
            bound[id(node)] = make(node.op, inputs, **dict(node.attrs))
    return [bound.get(id(r), r) for r in roots]


def parts(node: Node) -> tuple[list[Node], list[Node], list[Node]]:
    """A scan node's inputs split into ``(inits, sequences, outside values)``."""
    n, m = node.attr("carries"), node.attr("sequences")
    return list(node.inputs[:n]), list(node.inputs[n:n + m]), list(node.inputs[n + m:])


def needed_carries(node_attrs: dict, wanted: set[int]) -> list[int]:
    """The carries a loop must update to produce the carries ``wanted``: those and every carry their body reads."""
    body, params = node_attrs["body"], node_attrs["params"]
    need, frontier = set(wanted), list(wanted)
    while frontier:
        reads = {id(n) for n in toposort([body[frontier.pop()]]) if n.op == "input"}
        for k in range(node_attrs["carries"]):
            if id(params[k]) in reads and k not in need:
                need.add(k)
                frontier.append(k)
    return sorted(need)


def _infer(inputs: tuple[Node, ...], attrs: dict) -> tuple[tuple, str]:
    params, n, m = attrs["params"], attrs["carries"], attrs["sequences"]
    if len(inputs) != len(params):
        raise ShapeError(f"scan: {len(inputs)} inputs for a body over {len(params)} placeholders")
    for k, (value, param) in enumerate(zip(inputs, params)):
        expected = (attrs["length"],) + param.shape if n <= k < n + m else param.shape
        if value.shape != expected or value.dtype != param.dtype:
            raise ShapeError(f"scan: input {k} has shape {value.shape} ({value.dtype}), the body expects "
                             f"{expected} ({param.dtype})")
    carry = inputs[attrs["output"]]
    if attrs["mode"] not in ("after", "before", "final"):
        raise ValueError(f"scan: mode must be 'after', 'before' or 'final', got {attrs['mode']!r}")
    return (carry.shape if attrs["mode"] == "final" else (attrs["length"],) + carry.shape), carry.dtype


def _evaluate(*arrays: np.ndarray, body, params, carries, sequences, length, reverse, output, mode, depth):
    """The reference loop: the body interpreted once per step."""
    n, m = carries, sequences
    dims: dict[str, int] = {}
    origin: dict[str, str] = {}
    for k, (param, array) in enumerate(zip(params, arrays)):
        bind_dims(f"scan input {k}", param.shape, array.shape[1:] if n <= k < n + m else array.shape, dims, origin)
    steps = arrays[n].shape[0] if m else length
    need = needed_carries({"body": body, "params": params, "carries": n}, {output})
    state = list(arrays[:n])
    fixed = {id(p): a for p, a in zip(params[n + m:], arrays[n + m:])}
    stacked = np.empty((steps,) + state[output].shape, dtype=state[output].dtype)
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        values = dict(fixed)
        values.update((id(params[k]), state[k]) for k in range(n))
        values.update((id(params[n + j]), arrays[n + j][t]) for j in range(m))
        if mode == "before":
            stacked[t] = state[output]
        values = interpret([body[k] for k in need], values, dims)
        for k in need:
            state[k] = values[id(body[k])]
        if mode == "after":
            stacked[t] = state[output]
    return state[output] if mode == "final" else stacked


def _time_first(x: Node, lead: int) -> Node:
    """``x`` of shape ``(*batch, T, ...)`` as ``(T, *batch, ...)`` (``lead`` batch axes)."""
    return transpose(x, (lead,) + tuple(range(lead)) + tuple(range(lead + 1, x.ndim))) if lead else x


def _time_back(x: Node, lead: int) -> Node:
    """``x`` of shape ``(T, *batch, ...)`` as ``(*batch, T, ...)``."""
    return transpose(x, tuple(range(1, lead + 1)) + (0,) + tuple(range(lead + 1, x.ndim))) if lead else x


def _stacked(inputs: tuple[Node, ...], attrs: dict) -> list[Node]:
    """The forward loop's carries entering each step, then after each step (stacked in step order): a derivative
    loop reads both, so it neither recomputes the step nor keeps anything but what the forward loop stored."""
    sibling = {k: v for k, v in attrs.items() if k not in ("output", "mode")}
    return [make("scan", inputs, output=k, mode=mode, **sibling)
            for mode in ("before", "after") for k in range(attrs["carries"])]


def _reuse_results(nodes: list[Node], at: list[Node], results: list[Node]) -> list[Node]:
    """``nodes`` (a derivative of the step ``at``) reading the step's results from the forward loop's stacked
    carries ``results`` instead of computing them again (tanh's derivative reads tanh's value, say)."""
    return substitute(nodes, {id(a): r for a, r in zip(at, results) if a.op not in ("input", "constant")})


def _body_at(attrs: dict, values: list[Node]) -> tuple[list[Node], list[Node]]:
    """The body's new carries with its carry and element placeholders bound to ``values``, and its outside values
    bound to fresh leaves (returned too): a derivative is taken with respect to those leaves, which are independent
    even when one outside value is computed from another (``U`` and ``U.T``); :func:`_close` then puts the scan's
    own inputs in their place."""
    trace = next(_TRACE_IDS)
    params = attrs["params"][len(values):]
    leaves = [tensor(f"_scan_trace{trace}_v{k}", p.shape, p.dtype) for k, p in enumerate(params)]
    return substitute(attrs["body"], {id(p): v for p, v in zip(attrs["params"], values + leaves)}), leaves


def _close(nodes: list[Node], leaves: list[Node], frees: list[Node]) -> list[Node]:
    return substitute(nodes, {id(leaf): value for leaf, value in zip(leaves, frees)})


def _vjp(g: Node, out: Node, *inputs: Node, **attrs: Any) -> list[Node | None]:
    """Backpropagation through time: a scan the other way whose body is the forward body's VJP."""
    from ..rewrite import simplify  # rewrite's rules know nothing of loops; imported late like reverse.py does

    n, m, output, mode = attrs["carries"], attrs["sequences"], attrs["output"], attrs["mode"]
    inits, seqs, frees = list(inputs[:n]), list(inputs[n:n + m]), list(inputs[n + m:])
    batch = g.shape[:g.ndim - out.ndim]
    float_seqs = [j for j, s in enumerate(seqs) if s.dtype in FLOAT_DTYPES]
    float_frees = [f for f, v in enumerate(frees) if v.dtype in FLOAT_DTYPES]
    streamed = [] if mode == "final" else [_time_first(g, len(batch))]  # the returned carry's, step by step

    def backward(cotangents: list[Node], elements: list[Node]) -> list[Node]:
        g_t = elements[0] if streamed else None
        h, results, x = elements[len(streamed):][:n], elements[len(streamed):][n:2 * n], elements[len(streamed) + 2 * n:]
        values = h + x
        totals = [cotangents[k] + g_t if k == output and mode == "after" else cotangents[k] for k in range(n)]
        at, leaves = _body_at(attrs, values)
        wrt = h + [x[j] for j in float_seqs] + [leaves[f] for f in float_frees]
        adjoint = vjp_graph(at, totals, wrt, batch)

        def cot(node: Node) -> Node:
            found = adjoint.get(id(node))
            return cast(found, node.dtype) if found is not None else zeros(batch + node.shape, node.dtype)

        accumulators = cotangents[n + len(float_seqs):]
        new = [cot(v) + g_t if k == output and mode == "before" else cot(v) for k, v in enumerate(h)]
        new += [cot(x[j]) for j in float_seqs]
        new += [acc + cot(leaves[f]) for acc, f in zip(accumulators, float_frees)]
        return simplify(_close(_reuse_results(new, at, results), leaves, frees))

    start = [g if k == output and mode == "final" else zeros(batch + c.shape, c.dtype) for k, c in enumerate(inits)]
    start += [zeros(batch + seqs[j].shape[1:], seqs[j].dtype) for j in float_seqs]
    start += [zeros(batch + frees[f].shape, frees[f].dtype) for f in float_frees]
    modes = ["final"] * n + ["after"] * len(float_seqs) + ["final"] * len(float_frees)
    nodes = scan_nodes(backward, start, streamed + _stacked(inputs, attrs) + seqs, attrs["length"],
                       not attrs["reverse"], modes)
    by_seq = dict(zip(float_seqs, nodes[n:n + len(float_seqs)]))
    by_free = dict(zip(float_frees, nodes[n + len(float_seqs):]))
    grads: list[Node | None] = list(nodes[:n])
    grads += [_time_back(by_seq[j], len(batch)) if j in by_seq else None for j in range(m)]
    return grads + [by_free.get(f) for f in range(len(frees))]


def _jvp(tangents: list[Node | None], out: Node, *inputs: Node, **attrs: Any) -> Node:
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

    def forward(carry_tangents: list[Node], elements: list[Node]) -> list[Node]:
        values = elements[:n] + elements[2 * n:2 * n + m]
        results, element_tangents = elements[n:2 * n], elements[2 * n + m:]
        at, leaves = _body_at(attrs, values)
        wrt = values[:n] + [values[n + j] for j in moving] + [leaves[f] for f in fixed]
        directions = carry_tangents + element_tangents + [tangents[n + m + f] for f in fixed]
        found = tangent_graph(at, wrt, directions, batch)
        new = [cast(found[id(r)], r.dtype) if id(r) in found else zeros(batch + r.shape, r.dtype) for r in at]
        return simplify(_close(_reuse_results(new, at, results), leaves, frees))

    start = [t if t is not None else zeros(batch + c.shape, c.dtype) for t, c in zip(tangents[:n], inputs[:n])]
    elements = _stacked(inputs, attrs) + list(inputs[n:n + m]) + [_time_first(tangents[n + j], len(batch))
                                                                    for j in moving]
    nodes = scan_nodes(forward, start, elements, attrs["length"], attrs["reverse"], mode)
    return nodes[output] if mode == "final" else _time_back(nodes[output], len(batch))


defop("scan", "loop", _infer, _evaluate, vjp=_vjp, jvp=_jvp)
