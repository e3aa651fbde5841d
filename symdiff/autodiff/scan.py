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

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..ir import Node, ShapeError, bind_dims, depends_on, resolve_shape, toposort
from ..ops import broadcast_to, make, tensor
from ..ops.convert import as_node
from ..ops.interpret import interpret
from ..ops.registry import defop
from ..rewrite.facts import fingerprint

_TRACING = threading.local()  # how deep this thread is in traces of loop bodies


@contextlib.contextmanager
def tracing(keys: Sequence[Node]) -> Iterator[str]:
    """The name prefix of one trace's placeholders: the same whenever the same trace is made (so a derivative built
    twice is the same graph, simplified alike, and hits the kernel cache), different in traces nested in it (nodes
    are interned by name and shape: a nested trace's placeholders must be other nodes). ``keys``: what the trace
    depends on (the loop's inputs and body)."""
    depth = getattr(_TRACING, "depth", 0)
    digest = hashlib.blake2b(b"".join(fingerprint(k) for k in keys), digest_size=6).hexdigest()
    _TRACING.depth = depth + 1
    try:
        yield f"_scan_trace{depth}_{digest}"
    finally:
        _TRACING.depth = depth
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
    try:
        return broadcast_to(value, carry.shape)
    except ShapeError:
        raise ShapeError(f"scan: step returned shape {value.shape} for carry {k}, whose shape is {carry.shape}") \
            from None


def scan_nodes(step: Step, inits: Sequence[Node], seqs: Sequence[Node], length, reverse: bool,
               modes: str | Sequence[str] = "after") -> list[Node]:
    """One scan node per carry, tracing ``step`` once on placeholders and closing the body over the outside values
    it reads. ``modes`` (one, or one per carry) picks what each node returns: "after" (the carry after each step,
    stacked), "before" (the carry entering each step, stacked) or "final". ``step`` may return more values after the
    new carries: each becomes a "residual" node (that value at every step, stacked)."""
    with tracing([*inits, *seqs]) as trace:
        carry_args = [tensor(f"{trace}_c{k}", c.shape, c.dtype) for k, c in enumerate(inits)]
        element_args = [tensor(f"{trace}_x{k}", s.shape[1:], s.dtype) for k, s in enumerate(seqs)]
        results = step(carry_args, element_args)
    order = toposort(results)
    variant = depends_on(order, carry_args + element_args)
    used = {id(i) for n in order if id(n) in variant for i in n.inputs} | {id(b) for b in results}
    # drop sequences the body never reads (a derivative's stacked values it no longer needs)
    kept = [k for k, a in enumerate(element_args) if id(a) in used]
    element_args, seqs = [element_args[k] for k in kept], [seqs[k] for k in kept]
    frees = _outside_values(order, variant, results)
    depth = 1 + max((n.attr("depth") for n in order if n.op == "scan"), default=0)
    params = [tensor(f"_scan{depth}_c{k}", c.shape, c.dtype) for k, c in enumerate(inits)]
    params += [tensor(f"_scan{depth}_x{k}", a.shape, a.dtype) for k, a in enumerate(element_args)]
    params += [tensor(f"_scan{depth}_v{k}", f.shape, f.dtype) for k, f in enumerate(frees)]
    results = substitute(results, dict(zip(map(id, carry_args + element_args + frees), params)))
    n = len(inits)
    attrs = {"body": tuple(results[:n]), "params": tuple(params), "carries": n, "sequences": len(seqs),
             "length": length, "reverse": bool(reverse), "depth": depth}
    inputs = [*inits, *seqs, *frees]
    modes = [modes] * n if isinstance(modes, str) else list(modes)
    return [make("scan", inputs, output=k, mode=mode, **attrs) for k, mode in enumerate(modes)] + [
        make("scan", inputs, output=value, mode="residual", **attrs) for value in results[n:]]


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


def substitute(roots: Sequence[Node], mapping: dict[int, Node], bound: dict[int, Node] | None = None,
               remake: Callable[[Node, list[Node]], Node | None] | None = None) -> list[Node]:
    """``roots`` rebuilt with the nodes whose ids ``mapping`` holds replaced by their values; ``bound`` (when
    given) receives every replacement made, by the id of the node replaced. ``remake(node, inputs)`` (when given)
    may build a node's replacement from its inputs' (None: the same op on them, when they changed)."""
    bound = {} if bound is None else bound
    bound.update(mapping)
    for node in toposort(roots, stop=bound):
        if id(node) in bound or not node.inputs:
            continue
        inputs = [bound.get(id(i), i) for i in node.inputs]
        made = remake(node, inputs) if remake is not None else None
        if made is not None:
            bound[id(node)] = made
        elif any(a is not b for a, b in zip(inputs, node.inputs)):
            bound[id(node)] = make(node.op, inputs, **dict(node.attrs))
    return [bound.get(id(r), r) for r in roots]


def needed_carries(node_attrs: dict, carries: set[int], values: Sequence[Node] = ()) -> list[int]:
    """The carries a loop must update to produce the carries ``carries`` and the body ``values``: those and every
    carry their graphs read."""
    body, params = node_attrs["body"], node_attrs["params"]
    need: set[int] = set()
    frontier: list[Node] = [body[k] for k in carries] + list(values)
    need.update(carries)
    while frontier:
        reads = {id(n) for n in toposort([frontier.pop()]) if n.op == "input"}
        for k in range(node_attrs["carries"]):
            if id(params[k]) in reads and k not in need:
                need.add(k)
                frontier.append(body[k])
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
    if attrs["mode"] not in ("after", "before", "final", "residual"):
        raise ValueError(f"scan: mode must be 'after', 'before', 'final' or 'residual', got {attrs['mode']!r}")
    value = attrs["output"] if attrs["mode"] == "residual" else inputs[attrs["output"]]
    return (value.shape if attrs["mode"] == "final" else (attrs["length"],) + value.shape), value.dtype


def _evaluate(*arrays: np.ndarray, body, params, carries, sequences, length, reverse, output, mode, depth):
    """The reference loop: the body interpreted once per step."""
    n, m = carries, sequences
    dims: dict[str, int] = {}
    origin: dict[str, str] = {}
    for k, (param, array) in enumerate(zip(params, arrays)):
        bind_dims(f"scan input {k}", param.shape, array.shape[1:] if n <= k < n + m else array.shape, dims, origin)
    steps = arrays[n].shape[0] if m else length
    residual = mode == "residual"
    need = needed_carries({"body": body, "params": params, "carries": n}, set() if residual else {output},
                          [output] if residual else [])
    state = list(arrays[:n])
    fixed = {id(p): a for p, a in zip(params[n + m:], arrays[n + m:])}
    shape, dtype = (resolve_shape(output.shape, dims), output.dtype) if residual else \
        (state[output].shape, state[output].dtype)
    stacked = np.empty((steps, *shape), dtype=dtype)
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        values = dict(fixed)
        values.update((id(params[k]), state[k]) for k in range(n))
        values.update((id(params[n + j]), arrays[n + j][t]) for j in range(m))
        if mode == "before":
            stacked[t] = state[output]
        values = interpret([body[k] for k in need] + ([output] if residual else []), values, dims)
        if residual:
            stacked[t] = values[id(output)]
        for k in need:
            state[k] = values[id(body[k])]
        if mode == "after":
            stacked[t] = state[output]
    return state[output] if mode == "final" else stacked


# the derivative rules build scans with the functions above
from .scan_derivatives import scan_jvp, scan_vjp  # noqa: E402

defop("scan", "loop", _infer, _evaluate, vjp=scan_vjp, jvp=scan_jvp)
