"""The op test table: one row per op (or composite) with an independent NumPy reference.

Rows are shared by the reference-evaluator tests and the compiled-kernel tests.
Domains keep inputs away from kinks and singularities so finite differences are meaningful.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import symdiff as sd
from symdiff.ops import make


@dataclass(frozen=True)
class Case:
    id: str
    ops: tuple[str, ...]  # op-table names this row covers
    build: Callable
    reference: Callable
    shapes: tuple  # one shape per input
    domain: tuple[float, float] = (-2.0, 2.0)
    smooth: bool = True  # gradient and second derivative checked by finite differences
    int_inputs: dict = field(default_factory=dict)  # input position -> (dtype, high)
    dims: dict = field(default_factory=dict)  # sizes of the named dims used in ``shapes``

    def values(self, seed: int = 0) -> list[np.ndarray]:
        rng = np.random.default_rng(seed)
        out = []
        for k, shape in enumerate(self.shapes):
            shape = tuple(self.dims.get(d, d) for d in shape)
            if k in self.int_inputs:
                dtype, high = self.int_inputs[k]
                out.append(rng.integers(0, high, size=shape).astype(dtype))
            else:
                lo, hi = self.domain
                v = rng.uniform(lo, hi, size=shape)
                out.append(np.where(np.abs(v) < 0.2, v + np.sign(v + 1e-9) * 0.3, v) if lo < 0 < hi else v)
        return out

    def tensors(self) -> list[sd.Node]:
        return [
            sd.tensor(f"{self.id.replace('-', '_')}_{k}", shape, self.int_inputs.get(k, ("float64",))[0])
            for k, shape in enumerate(self.shapes)
        ]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


U = (2, 3)  # default unary shape

CASES = [
    Case("negative", ("negative",), lambda x: -x, np.negative, (U,)),
    Case("exp", ("exp",), sd.exp, np.exp, (U,)),
    Case("log", ("log",), sd.log, np.log, (U,), (0.3, 3.0)),
    Case("log1p", ("log1p",), sd.log1p, np.log1p, (U,), (-0.7, 3.0)),
    Case("expm1", ("expm1",), sd.expm1, np.expm1, (U,)),
    Case("sqrt", ("sqrt",), sd.sqrt, np.sqrt, (U,), (0.3, 3.0)),
    Case("sin", ("sin",), sd.sin, np.sin, (U,)),
    Case("cos", ("cos",), sd.cos, np.cos, (U,)),
    Case("tanh", ("tanh", "tanh_grad"), sd.tanh, np.tanh, (U,)),
    Case("sigmoid", ("sigmoid",), sd.sigmoid, _sigmoid, (U,), (-6.0, 6.0)),
    Case("softplus", ("softplus",), sd.softplus, lambda x: np.log1p(np.exp(x)), (U,), (-6.0, 6.0)),
    Case("tan", ("tan",), sd.tan, np.tan, (U,), (-1.2, 1.2)),
    Case("sinh", ("sinh",), sd.sinh, np.sinh, (U,)),
    Case("cosh", ("cosh",), sd.cosh, np.cosh, (U,)),
    Case("arctan", ("arctan",), sd.arctan, np.arctan, (U,)),
    Case("arctan2", ("arctan2",), sd.arctan2, np.arctan2, ((3, 1), (3, 4))),
    Case("erf", ("erf",), sd.erf, lambda x: _special("erf", x), (U,)),
    Case("erfc", ("erfc",), sd.erfc, lambda x: _special("erfc", x), (U,)),
    Case("log2", ("log2",), sd.log2, np.log2, (U,), (0.3, 3.0)),
    Case("log10", ("log10",), sd.log10, np.log10, (U,), (0.3, 3.0)),
    Case("exp2", ("exp2",), sd.exp2, np.exp2, (U,)),
    Case("floor-ceil-round", ("floor", "ceil", "round"),
         lambda x: sd.floor(x * 3.0) + 10.0 * sd.ceil(x * 3.0) + 100.0 * sd.round(x * 3.0),
         lambda x: np.floor(x * 3) + 10 * np.ceil(x * 3) + 100 * np.round(x * 3), (U,), smooth=False),
    Case("square-reciprocal-clip", ("multiply", "divide", "maximum", "minimum"),
         lambda x: sd.square(x) + sd.reciprocal(x) + sd.clip(x, -0.5, 1.0),
         lambda x: x * x + 1 / x + np.clip(x, -0.5, 1.0), (U,)),
    Case("abs", ("abs",), sd.abs, np.abs, (U,)),
    Case("sign", ("sign",), sd.sign, np.sign, (U,), smooth=False),
    Case("cast", ("cast",), lambda x: sd.cast(sd.cast(x, "float32"), "float64"),
         lambda x: x.astype(np.float32).astype(np.float64), (U,), smooth=False),
    Case("stop_gradient", ("stop_gradient",), lambda x: x * sd.stop_gradient(x), lambda x: x * x, (U,),
         smooth=False),
    Case("add", ("add",), lambda a, b: a + b, np.add, ((3, 1), (4,))),
    Case("subtract", ("subtract",), lambda a, b: a - b, np.subtract, ((3, 4), (4,))),
    Case("multiply", ("multiply",), lambda a, b: a * b, np.multiply, ((2, 1, 3), (4, 1))),
    Case("divide", ("divide",), lambda a, b: a / b, np.divide, ((3, 4), (3, 1)), (0.5, 2.0)),
    Case("power", ("power",), lambda a, b: a**b, np.power, ((3, 2), (2,)), (0.5, 2.0)),
    Case("square", ("power",), lambda a: a**2, np.square, (U,)),
    Case("maximum", ("maximum",), sd.maximum, np.maximum, ((3, 4), (4,))),
    Case("minimum", ("minimum",), sd.minimum, np.minimum, ((3, 4), (3, 1))),
    Case("max_of", ("max_of",), lambda a, b, c: sd.max_of(a, b * b, c), lambda a, b, c: np.maximum(np.maximum(a, b * b), c),
         ((3, 4), (4,), (3, 1))),
    Case("compare", ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"),
         lambda a, b: sd.cast(a < b, "float64") + 2 * sd.cast(a <= b, "float64") + 4 * sd.cast(a > b, "float64")
         + 8 * sd.cast(a >= b, "float64") + 16 * sd.cast(sd.equal(a, a), "float64")
         + 32 * sd.cast(sd.not_equal(a, b), "float64"),
         lambda a, b: (a < b) + 2.0 * (a <= b) + 4.0 * (a > b) + 8.0 * (a >= b) + 16.0 + 32.0 * (a != b),
         ((3, 4), (4,)), smooth=False),
    Case("where", ("where",), lambda c, a, b: sd.where(c > 0, a * a, b), lambda c, a, b: np.where(c > 0, a * a, b),
         ((3, 1), (3, 4), (4,))),
    Case("sum", ("sum",), lambda x: sd.sum(x, axis=1) * sd.sum(x, axis=(0, 2), keepdims=True)[0, :, 0],
         lambda x: x.sum(1) * x.sum((0, 2), keepdims=True)[0, :, 0], ((2, 3, 3),)),
    Case("mean", ("sum", "count"), lambda x: sd.mean(x, axis=0), lambda x: x.mean(0), ((4, 3),)),
    Case("count-named", ("count",), lambda x: sd.mean(x * x, axis=0), lambda x: (x * x).mean(0),
         (("batch", 3),), dims={"batch": 4}),
    Case("max", ("max",), lambda x: sd.max(x, axis=1), lambda x: x.max(1), ((3, 4),)),
    Case("min", ("min",), lambda x: sd.min(x, axis=(0, 1), keepdims=True), lambda x: x.min((0, 1), keepdims=True),
         ((3, 4),)),
    Case("matmul", ("matmul",), lambda a, b: a @ b, np.matmul, ((3, 4), (4, 2))),
    Case("matmul-batched", ("matmul",), lambda a, b: a @ b, np.matmul, ((2, 3, 4), (4, 2))),
    Case("matmul-vector", ("matmul",), lambda a, b: a @ b, np.matmul, ((4,), (4, 2))),
    Case("transpose", ("transpose",), lambda x: sd.transpose(x, (2, 0, 1)) * 2.0,
         lambda x: np.transpose(x, (2, 0, 1)) * 2.0, ((2, 3, 4),)),
    Case("reshape", ("reshape",), lambda x: sd.reshape(x, (3, 2)) ** 2, lambda x: x.reshape(3, 2) ** 2, (U,)),
    Case("broadcast_to", ("broadcast_to",), lambda x: sd.broadcast_to(x, (2, 3, 3)) * sd.constant(np.arange(3.0)),
         lambda x: np.broadcast_to(x, (2, 3, 3)) * np.arange(3.0), ((3, 1),)),
    Case("slice", ("slice", "pad_slice"), lambda x: x[1:, ::2, 0] ** 2, lambda x: x[1:, ::2, 0] ** 2, ((3, 4, 2),)),
    Case("take_along_axis", ("take_along_axis", "scatter_add"),
         lambda x, i: sd.take_along_axis(x, i, axis=1) ** 2, lambda x, i: np.take_along_axis(x, i, 1) ** 2,
         ((4, 3), (4, 2)), int_inputs={1: ("int64", 3)}),
    Case("concatenate", ("concatenate",), lambda a, b: sd.concatenate([a, b * b], axis=1),
         lambda a, b: np.concatenate([a, b * b], 1), ((2, 3), (2, 2))),
    Case("eye", ("eye",), lambda x: sd.eye(3) @ x + 2.0 * sd.eye(3), lambda x: x + 2.0 * np.eye(3), ((3, 3),)),
    Case("one_hot", ("equal", "cast", "check_index"), lambda y: sd.one_hot(y, 4), lambda y: np.eye(4)[y], ((5,),), smooth=False,
         int_inputs={0: ("int64", 4)}),
    Case("softmax", ("exp", "max", "sum", "stop_gradient"), sd.softmax, _softmax, ((3, 4),)),
    Case("log_softmax", ("log",), sd.log_softmax, lambda x: np.log(_softmax(x)), ((3, 4),)),
    Case("logsumexp", ("log",), lambda x: sd.logsumexp(x, axis=0),
         lambda x: np.log(np.exp(x).sum(0)), ((3, 4),)),
    Case("random_uniform", ("random_uniform",), lambda s: sd.random_uniform(s, (3, 4)),
         lambda s: _splitmix(int(s), 12).reshape(3, 4), ((),), smooth=False, int_inputs={0: ("int64", 1000)}),
    Case("random_uniform-from", ("random_uniform",), lambda s, f: make("random_uniform", [s, f], shape=(2, 3),
                                                                       dtype="float64"),
         lambda s, f: _splitmix(int(s), int(f) + 6)[int(f):].reshape(2, 3), ((), ()), smooth=False,
         int_inputs={0: ("int64", 1000), 1: ("int64", 50)}),
    Case("scatter_add-direct", ("scatter_add",),
         lambda u, i: make("scatter_add", [u * u, i], axis=0, shape=(3, 2)),
         lambda u, i: _scatter(u * u, i), ((4, 2), (4, 2)), int_inputs={1: ("int64", 3)}),
    Case("pad_slice-direct", ("pad_slice",),
         lambda u: make("pad_slice", [u * u], shape=(4, 3), index=((1, 3, 1), (0, 3, 2))),
         lambda u: _pad(u * u), ((2, 2),)),
    # composites of the ops above: convolution (im2col: strided slices, concatenate, matmul) and pooling
    Case("conv2d", ("slice", "concatenate", "matmul"), lambda x, w: sd.conv2d(x, w, stride=(2, 1), padding="same"),
         lambda x, w: _conv2d_same_stride_2_1(x, w), ((1, 4, 3, 2), (2, 2, 2, 2))),
    Case("max_pool2d", ("max_of",), lambda x: sd.max_pool2d(x, 2),
         lambda x: x.reshape(1, 2, 2, 2, 2, 1).max(axis=(2, 4)), ((1, 4, 4, 1),)),
    # loops: an Elman step, and two carries walked backwards (each step reads the other carry)
    Case("scan", ("scan",), lambda x, w, h: sd.scan(lambda c, x_t: sd.tanh(x_t @ w + 0.5 * c), h, x),
         lambda x, w, h: _elman(x, w, h), ((3, 2, 2), (2, 2), (2, 2))),
    Case("scan-reverse-pair", ("scan",),
         lambda x, a: sd.concatenate(sd.scan(lambda c, x_t: (c[0] * x_t + sd.sin(c[1]), c[1] * a - c[0]),
                                             (a, a * a), x, reverse=True), axis=1),
         lambda x, a: _reverse_pair(x, a), ((4, 2), (2,)), domain=(-1.0, 1.0)),
    Case("cumsum", ("scan",), lambda x: sd.cumsum(x * x, axis=1), lambda x: np.cumsum(x * x, axis=1), ((3, 4, 2),)),
]


def _elman(x, w, h):
    states = []
    for x_t in x:
        h = np.tanh(x_t @ w + 0.5 * h)
        states.append(h)
    return np.stack(states)


def _reverse_pair(x, a):
    p, q, ps, qs = a, a * a, [None] * len(x), [None] * len(x)
    for t in reversed(range(len(x))):
        p, q = p * x[t] + np.sin(q), q * a - p
        ps[t], qs[t] = p, q
    return np.concatenate([np.stack(ps), np.stack(qs)], axis=1)


def _conv2d_same_stride_2_1(x, w):
    """The definition, with TensorFlow's "same" padding for a 2x2 kernel: one extra row and column after."""
    x = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    out = np.zeros((x.shape[0], 2, 3, w.shape[3]))
    for i in range(2):
        for j in range(3):
            out[:, i, j] = np.einsum("nabc,abco->no", x[:, 2 * i:2 * i + 2, j:j + 2], w)
    return out


def _special(name, x):
    """erf/erfc with Python's math module (independent of SciPy, which the evaluator uses)."""
    import math

    return np.vectorize(getattr(math, name))(x)


def _pad(v):
    out = np.zeros((4, 3))
    out[1:3, 0:3:2] = v
    return out


def _scatter(u, i):
    out = np.zeros((3, 2))
    for r in range(u.shape[0]):
        for c in range(u.shape[1]):
            out[i[r, c], c] += u[r, c]
    return out


def _splitmix(seed, n):
    """splitmix64 written with Python integers: an independent check of the vectorised reference."""
    mask, out = (1 << 64) - 1, []
    for i in range(n):
        z = (seed * 0x9E3779B97F4A7C15 + i + 1) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        out.append((z >> 11) / 2.0**53)
    return np.array(out)
