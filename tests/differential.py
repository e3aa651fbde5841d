"""Random typed graphs for the differential tests (test_differential.py): a Hypothesis strategy that builds a
graph op by op from a pool of well-typed nodes, with random outputs and random in-place updates.

Values stay well conditioned by construction (domains are guarded: ``log1p(a*a)``, ``sqrt(1 + a*a)``, division by
``1.5 + sigmoid(b)``), so a disagreement between a compiled kernel and ``sd.evaluate`` is a bug, not rounding
amplified by cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

import symdiff as sd

CLASSES = 3


def _safe_unary():
    return {
        "tanh": sd.tanh, "sigmoid": sd.sigmoid, "sin": sd.sin, "cos": sd.cos, "softplus": sd.softplus,
        "abs": sd.abs, "square": sd.square, "negative": sd.negative, "erf": sd.erf, "arctan": sd.arctan,
        "exp(tanh)": lambda a: sd.exp(sd.tanh(a)), "log1p(a*a)": lambda a: sd.log1p(a * a),
        "sqrt(1+a*a)": lambda a: sd.sqrt(1.0 + a * a), "expm1(tanh)": lambda a: sd.expm1(sd.tanh(a)),
        "1/(2+tanh)": lambda a: sd.reciprocal(2.0 + sd.tanh(a)), "floor": sd.floor, "round": sd.round,
        "sign": sd.sign, "clip": lambda a: sd.clip(a, -0.5, 0.5), "log2(2+sin)": lambda a: sd.log2(2.0 + sd.sin(a)),
        "erfc": sd.erfc, "tan(tanh)": lambda a: sd.tan(sd.tanh(a)), "stop_gradient": sd.stop_gradient,
        "cast32": lambda a: sd.cast(sd.cast(a, "float32"), a.dtype),
        # a negative constant base (printed once as -2.0 ** n, which Python reads as -(2.0 ** n))
        "(-2)**round": lambda a: sd.power(-2.0, sd.stop_gradient(sd.round(sd.clip(a, -3.0, 3.0)))),
    }


def _safe_binary():
    return {
        "add": lambda a, b: a + b, "subtract": lambda a, b: a - b, "multiply": lambda a, b: a * b,
        "divide": lambda a, b: a / (1.5 + sd.sigmoid(b)), "maximum": sd.maximum, "minimum": sd.minimum,
        "where": lambda a, b: sd.where(a > b, a, b), "arctan2": sd.arctan2, "max_of": lambda a, b: sd.max_of(a, b, a * b),
        "power": lambda a, b: sd.power(0.5 + sd.sigmoid(a), sd.tanh(b)),
    }


UNARY, BINARY = _safe_unary(), _safe_binary()
SMOOTH_UNARY = ["tanh", "sigmoid", "sin", "cos", "softplus", "square", "negative", "erf", "arctan", "exp(tanh)",
                "log1p(a*a)", "sqrt(1+a*a)", "expm1(tanh)", "1/(2+tanh)", "log2(2+sin)", "erfc", "tan(tanh)"]
SMOOTH_BINARY = ["add", "subtract", "multiply", "divide", "arctan2", "power"]


def _broadcastable(a: sd.Node, b: sd.Node) -> bool:
    for x, y in zip(reversed(a.shape), reversed(b.shape)):
        if x != y and x != 1 and y != 1:
            return False
    return True


@dataclass
class Program:
    """A random graph: its inputs (with a feed maker), the pool of nodes built, outputs and updates."""

    dtype: str
    inputs: dict[str, sd.Node] = field(default_factory=dict)
    pool: list[sd.Node] = field(default_factory=list)
    outputs: list[sd.Node] = field(default_factory=list)
    updates: dict[sd.Node, sd.Node] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    shift: float = 0.0  # added to every float input: one-signed arrays show wrong reduction starts

    def floats(self) -> list[sd.Node]:
        return [n for n in self.pool if n.dtype == self.dtype]

    def feed(self, batch: int, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        values = {"x": rng.standard_normal((batch, 3)) + self.shift, "P": rng.standard_normal((3, 3)) + self.shift,
                  "q": rng.standard_normal(3) + self.shift, "s": np.array(rng.standard_normal() + self.shift),
                  "labels": rng.integers(0, CLASSES, batch), "r": rng.standard_normal(3) + self.shift}
        return {k: (v.astype(self.dtype) if k != "labels" else v) for k, v in values.items()}

    def describe(self) -> str:
        return "; ".join(self.steps) + (f" (inputs shifted by {self.shift})" if self.shift else "")


def _product(data, a: sd.Node, floats: list[sd.Node]) -> sd.Node | None:
    """A matrix product with ``a``: by a (3, 3) or (3,) operand, a symmetric one (Gram products, compiled by
    ?syrk; the weighted one is a logistic Hessian's shape, which kernels rewrite to Bᵀ @ B), or a sum of outer
    products of rows (one product over the summed axis, through views with unit axes)."""
    forms = (["product"] if a.shape and a.shape[-1] == 3 else []) + (
        ["gram", "outer", "weighted", "row_outers"] if a.ndim == 2 else [])
    if not forms:
        return None
    form = data.draw(st.sampled_from(forms), label="product")
    if form == "product":
        return a @ data.draw(st.sampled_from([b for b in floats if b.shape in ((3, 3), (3,))]), label="right")
    if form == "gram":
        return sd.transpose(a) @ a
    if form == "outer":
        return a @ sd.transpose(a)
    if form == "row_outers":
        b = data.draw(st.sampled_from([b for b in floats if b.ndim == 2 and b.shape[0] == a.shape[0]]), label="rows")
        return sd.sum(sd.expand_dims(a, -1) @ sd.expand_dims(b, 1), axis=0)
    s = sd.sigmoid(sd.sum(a, axis=1))
    return (sd.transpose(a) * (s * (1.0 - s) / 2.0)) @ a


def _step(data, program: Program, smooth: bool) -> None:
    """Adds one node to the pool (an op drawn over operands drawn from the pool)."""
    floats = program.floats()
    kinds = ["unary", "binary", "reduce", "matmul", "view", "param_rows", "loop"]
    kinds += [] if smooth else ["index", "constant", "concat"]
    kind = data.draw(st.sampled_from(kinds), label="kind")
    a = data.draw(st.sampled_from(floats), label="a")
    if kind == "param_rows":  # row-wise reductions of an updated parameter once broke fused in-place updates
        P = program.inputs["P"]
        rows = {"softmax": lambda: sd.softmax(P, axis=-1), "log_softmax": lambda: sd.log_softmax(P, axis=-1),
                "weight_norm": lambda: P / sd.sqrt(1.0 + sd.sum(P * P, axis=-1, keepdims=True)),
                "logsumexp": lambda: P - sd.logsumexp(P, axis=-1, keepdims=True)}
        node = rows[data.draw(st.sampled_from(sorted(rows)), label="param rows")]()
    elif kind == "unary":
        name = data.draw(st.sampled_from(SMOOTH_UNARY if smooth else sorted(UNARY)), label="unary")
        node = UNARY[name](a)
    elif kind == "binary":
        partners = [b for b in floats if _broadcastable(a, b)]
        b = data.draw(st.sampled_from(partners), label="b")
        name = data.draw(st.sampled_from(SMOOTH_BINARY if smooth else sorted(BINARY)), label="binary")
        node = BINARY[name](a, b)
    elif kind == "reduce":
        if not a.shape:
            return
        axis = data.draw(st.integers(-len(a.shape), len(a.shape) - 1), label="axis")
        names = ["sum", "mean", "logsumexp", "softmax", "log_softmax"] + ([] if smooth else ["max", "min"])
        name = data.draw(st.sampled_from(names), label="reduce")
        keep = data.draw(st.booleans(), label="keepdims") and name not in ("softmax", "log_softmax")
        fn = {"sum": sd.sum, "mean": sd.mean, "max": sd.max, "min": sd.min, "logsumexp": sd.logsumexp}
        node = (getattr(sd, name)(a, axis=axis) if name in ("softmax", "log_softmax")
                else fn[name](a, axis=axis, keepdims=keep))
    elif kind == "loop":
        node = _loop(data, program, a, floats, smooth)
        if node is None:
            return
    elif kind == "matmul":
        node = _product(data, a, floats)
        if node is None:
            return
    elif kind == "view":
        views = {"expand": lambda n: sd.expand_dims(n, 0), "reshape_1": lambda n: sd.reshape(n, n.shape + (1,))}
        if len(a.shape) >= 2:
            views["transpose"] = lambda n: sd.swapaxes(n, -1, -2)
        if a.shape and a.shape[-1] == 3:
            views["slice"] = lambda n: n[..., 1:]
            views["reverse"] = lambda n: n[..., ::-1]
            views["broadcast"] = lambda n: sd.broadcast_to(n, ("batch",) + tuple(n.shape)) if len(n.shape) == 1 \
                else n
        if a.shape == ():
            views["index_none"] = lambda n: n[None]
        name = data.draw(st.sampled_from(sorted(views)), label="view")
        node = views[name](a)
        if len(node.shape) > 3:
            return
    elif kind == "index":
        labels = program.inputs["labels"]
        batched = [b for b in floats if b.shape == ("batch", 3)]
        which = data.draw(st.sampled_from(["one_hot", "take"] if batched else ["one_hot"]), label="index")
        if which == "one_hot":
            node = sd.one_hot(labels, CLASSES, dtype=program.dtype)
        else:
            node = sd.take_along_axis(data.draw(st.sampled_from(batched), label="b"), labels[:, None], axis=1)
    elif kind == "constant":  # one-element constants once crashed matmul, concatenate and views
        shape = data.draw(st.sampled_from([(1,), (1, 1), (3,), ()]), label="const shape")
        seed = data.draw(st.integers(0, 2**16), label="const seed")
        c = sd.constant(np.random.default_rng(seed).standard_normal(shape).astype(program.dtype))
        if shape == (1, 1):
            node = c @ sd.reshape(sd.sum(a), (1, 1))
        elif shape == (1,) and len(a.shape) == 1 and isinstance(a.shape[0], int):  # not along a named dim
            node = sd.concatenate([a, c])
        else:
            node = a * c if _broadcastable(a, c) else a + sd.sum(c)
    else:  # concat
        partners = [b for b in floats if len(b.shape) == len(a.shape) >= 1 and b.shape[:-1] == a.shape[:-1]
                    and isinstance(a.shape[-1], int) and isinstance(b.shape[-1], int)]  # not along a named dim
        if not partners:
            return
        node = sd.concatenate([a, data.draw(st.sampled_from(partners), label="b")], axis=-1)
    program.pool.append(node)
    program.steps.append(f"{kind}: {node.op} {node.shape}")


def _fits(shape: tuple, into: tuple) -> bool:
    """Whether ``shape`` broadcasts to exactly ``into``."""
    try:
        return sd.ir.broadcast_shapes(shape, into) == into
    except sd.ShapeError:
        return False


def _loop(data, program: Program, sequence: sd.Node, floats: list[sd.Node], smooth: bool) -> sd.Node | None:
    """A scan along the leading axis of ``sequence`` (a named one too: lengths 0, 1 and 3 then), its step a random
    unary of a random binary of the carry and the element, plus a value read from outside the loop; or a gated
    step (half the binary plus a unary of one column of it: its derivative reads that column alone), or two carries
    like an LSTM's (the second scaled by a unary of the first's new value, which its derivative reads)."""
    if not sequence.shape:
        return None
    element = sequence.shape[1:]
    carries = [c for c in floats if _fits(element, c.shape)]
    if not carries:
        return None
    init = data.draw(st.sampled_from(carries), label="loop init")
    outside = data.draw(st.sampled_from([None] + [c for c in floats if _fits(c.shape, init.shape)]),
                        label="loop reads")
    def draw_unary(label: str):
        return UNARY[data.draw(st.sampled_from(SMOOTH_UNARY if smooth else sorted(UNARY)), label=label)]

    unary = draw_unary("loop unary")
    binary = BINARY[data.draw(st.sampled_from(SMOOTH_BINARY if smooth else sorted(BINARY)), label="loop binary")]

    shape = data.draw(st.sampled_from(["plain", "gated", "two carries"] if init.shape[-1:] == (3,) else ["plain"]),
                      label="loop step")
    second = draw_unary("loop unary 2") if shape == "two carries" else None

    def step(carry, x_t):
        z = binary(carry, x_t)
        new = 0.5 * z + unary(z[..., 1:2]) if shape == "gated" else unary(z)
        return new if outside is None else new + 0.5 * sd.tanh(outside)

    def two_carries(carries, x_t):
        c, h = carries
        c = step(c, x_t)
        return c, 0.5 * h * second(c) + 0.25 * c

    reverse = data.draw(st.booleans(), label="loop reverse")
    keep = data.draw(st.sampled_from(["all", "last"]), label="loop keep")
    if shape == "two carries":
        node = sd.scan(two_carries, (init, 0.5 * init), sequence, reverse=reverse, keep=keep)[1]
    else:
        node = sd.scan(step, init, sequence, reverse=reverse, keep=keep)
    return node if len(node.shape) <= 3 else None


def _inputs(dtype: str) -> dict[str, sd.Node]:
    return {"x": sd.tensor("x", ("batch", 3), dtype=dtype), "P": sd.tensor("P", (3, 3), dtype=dtype),
            "q": sd.tensor("q", (3,), dtype=dtype), "s": sd.tensor("s", (), dtype=dtype),
            "labels": sd.tensor("labels", ("batch",), dtype="int64"), "r": sd.tensor("r", (3,), dtype=dtype)}


def _update(data, program: Program, param: sd.Node, loss: sd.Node) -> sd.Node | None:
    """A random new value for ``param``, computed from values before the step."""
    P, q = program.inputs["P"], program.inputs["q"]
    choices = {
        "sgd": lambda: param - 0.1 * sd.grad(loss, param),
        "other_param": lambda: (sd.swapaxes(P, 0, 1) if param is P else P[0] + q * 0.5),
        "row_reduction": lambda: (P - sd.sum(sd.softmax(P, axis=-1), axis=-1, keepdims=True) if param is P
                                  else sd.sum(P, axis=0)),
        "reshape": lambda: (sd.reshape(sd.reshape(P, (9,)), (3, 3)) if param is P else sd.reshape(q, (3,)) * 2.0),
        "swap": lambda: (sd.broadcast_to(q, (3, 3)) if param is P else sd.sum(P, axis=1)),
        "keep": lambda: param,  # its own value: written back unchanged
        "view": lambda: (P.T if param is P else P[1]),  # a view of a parameter (copied first when P is updated)
        "none": lambda: None,
    }
    weighted = sorted(choices) + ["sgd", "sgd"]  # a training step is the common case
    return choices[data.draw(st.sampled_from(weighted), label=f"update {param.name}")]()


def draw_program(data, dtype: str = "float64", smooth: bool = False, max_steps: int = 8) -> Program:
    """A random graph over x ("batch", 3), P (3, 3), q (3,), s () and labels ("batch",) with outputs and updates (of
    P, q and r (3,), a parameter only)."""
    program = Program(dtype, _inputs(dtype))
    program.shift = data.draw(st.sampled_from([0.0, -2.5, 2.5]), label="input shift")
    program.pool = [n for name, n in program.inputs.items() if name not in ("labels", "r")]  # r: a parameter only
    for _ in range(data.draw(st.integers(1, max_steps), label="steps")):
        _step(data, program, smooth)
    built = program.pool[4:] or program.pool
    count = data.draw(st.integers(1, 3), label="outputs")
    program.outputs = [data.draw(st.sampled_from(built), label="output") for _ in range(count)]
    if smooth:
        return program
    P, q, r = program.inputs["P"], program.inputs["q"], program.inputs["r"]
    # every node built is in the loss, squared so its gradient reads its value (a plain sum's is often constant)
    loss = sum((sd.sum(sd.square(n)) for n in built), sd.sum(P ** 2))
    for param in (P, q):
        value = _update(data, program, param, loss)
        if value is not None:
            program.updates[param] = value
    if data.draw(st.booleans(), label="momentum"):  # optimizer state: q's new value is read by P's update
        g = sd.grad(loss, P)
        program.updates[q] = 0.9 * q + sd.sum(g, axis=0)
        program.updates[P] = P - 0.1 * (g + program.updates[q])
        if data.draw(st.booleans(), label="momentum reads the old state too"):
            program.updates[P] = program.updates[P] - 0.01 * q
    # a second vector parameter given the same value node as q, q itself, or a value of its own: one value for two
    # parameters must still write both (interned copies of one value once updated only one of them); or a chain of
    # ops on q's old value, which the loop writing q's new value computes (printed as one expression, it once read
    # the new q)
    shared = data.draw(st.sampled_from(["none", "q's value", "q", "own", "of q"]), label="r's update")
    if shared == "own":
        program.updates[r] = sd.sum(P, axis=0)
    elif shared == "of q":
        program.updates[r] = sd.exp(q * 0.5) + sd.sin(q)
    elif shared != "none":
        program.updates[r] = program.updates.get(q, q) if shared == "q's value" else q
    if data.draw(st.booleans(), label="output an updated parameter"):
        program.outputs.append(data.draw(st.sampled_from([program.inputs["P"], program.inputs["q"],
                                                          sd.swapaxes(program.inputs["P"], 0, 1),
                                                          program.inputs["q"] * 1.0]), label="param output"))
    return program
