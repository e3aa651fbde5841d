"""Arrays as (flat buffer, offset, strides): views become index arithmetic, never objects.

Every array the kernel touches is addressed as ``buffer[offset + i0*s0 + i1*s1 + ...]`` over a 1-D buffer: a
workspace, a returned array, an input or a constant. A transpose permutes strides, a reshape of contiguous data
recomputes them, a slice shifts the offset and scales strides. Offsets and strides are int64 IR expressions.
"""

from __future__ import annotations

from dataclasses import dataclass

from symdiff.ir import Node

from . import kir


@dataclass(frozen=True)
class ArrayRef:
    buffer: kir.Array
    offset: kir.Expr
    shape: tuple[kir.Expr, ...]
    strides: tuple[kir.Expr, ...]

    def offset_at(self, index: list[kir.Expr | None]) -> kir.Expr:
        """``offset + sum(i * stride)``; ``None`` entries (broadcast dims) contribute nothing."""
        return kir.total(self.offset, *(kir.mul(i, s) for i, s in zip(index, self.strides) if i is not None))

    def load(self, index: list[kir.Expr | None]) -> kir.Load:
        return kir.Load(self.buffer, self.offset_at(index))

    def store(self, index: list[kir.Expr | None], value: kir.Expr) -> kir.Store:
        return kir.Store(self.buffer, self.offset_at(index), value)

    def flat(self, position: kir.Expr) -> kir.Expr:
        """The buffer index of element number ``position`` in C order (contiguous refs only)."""
        return kir.add(self.offset, position)


def c_strides(shape: tuple[kir.Expr, ...]) -> tuple[kir.Expr, ...]:
    return tuple(kir.product(*shape[k + 1:]) for k in range(len(shape)))


def contiguous(buffer: kir.Array, offset: kir.Expr, shape: tuple[kir.Expr, ...]) -> ArrayRef:
    return ArrayRef(buffer, offset, shape, c_strides(shape))


def is_contiguous(ref: ArrayRef) -> bool:
    """True when every stride is the C-order one (a length-1 axis too: products step over flattened axes by the
    strides of the ref, so a view's stride 0 on a unit axis is not C order here)."""
    return all(_same(a, b) for a, b in zip(ref.strides, c_strides(ref.shape)))


def _same(a: kir.Expr, b: kir.Expr) -> bool:
    """Structural equality of small integer expressions (constants, variables, their products)."""
    if isinstance(a, kir.Const) and isinstance(b, kir.Const):
        return a.value == b.value
    if isinstance(a, kir.Var) and isinstance(b, kir.Var):
        return a.name == b.name
    if isinstance(a, kir.Op) and isinstance(b, kir.Op):
        return a.op == b.op and len(a.args) == len(b.args) and all(_same(x, y) for x, y in zip(a.args, b.args))
    return False


def same_shape(a: tuple[kir.Expr, ...], b: tuple[kir.Expr, ...]) -> bool:
    """Whether two shapes (IR expressions) are structurally the same."""
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


def unit_axes_only(before: tuple, after: tuple) -> bool:
    """True when ``after`` is ``before`` with length-1 axes added or dropped."""
    return [d for d in before if d != 1] == [d for d in after if d != 1]


def view(node: Node, base: ArrayRef, shape: tuple[kir.Expr, ...]) -> ArrayRef:
    """The ref of a view node (reshape of contiguous data, transpose, slice, checked indices) over ``base``."""
    if node.op == "check_index":  # the indices themselves, checked once
        return base
    if node.op == "reshape" and unit_axes_only(node.inputs[0].shape, node.shape):  # keeps the strides it has
        strides = iter(s for s, d in zip(base.strides, node.inputs[0].shape) if d != 1)
        return ArrayRef(base.buffer, base.offset, shape, tuple(kir.index(0) if d == 1 else next(strides)
                                                               for d in node.shape))
    if node.op == "reshape":  # of an array in C order (the planner copies strided ones first)
        return contiguous(base.buffer, base.offset, shape)
    if node.op == "transpose":
        perm = node.attr("perm")
        return ArrayRef(base.buffer, base.offset, shape, tuple(base.strides[p] for p in perm))
    starts = [kir.mul(kir.index(start), stride) for (start, _, _), stride in zip(node.attr("index"), base.strides)]
    strides = tuple(kir.mul(kir.index(step), stride) for (_, _, step), stride in zip(node.attr("index"), base.strides))
    return ArrayRef(base.buffer, kir.total(base.offset, *starts), shape, strides)
