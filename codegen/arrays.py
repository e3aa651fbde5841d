"""Arrays as (flat buffer, offset, strides): views become index arithmetic, never objects.

Every array the kernel touches is addressed as ``buffer[offset + i0*s0 + i1*s1 + ...]`` over a
1-D buffer: a workspace slot, a returned array, an input's flat alias or a constant. A transpose
permutes strides, a reshape of contiguous data recomputes them, a slice shifts the offset and
scales strides. No view object is created per call.
"""

from __future__ import annotations

from dataclasses import dataclass

from symdiff.ir import Node


@dataclass(frozen=True)
class ArrayRef:
    buffer: str  # a 1-D array variable
    offset: str  # an integer expression
    shape: tuple[str, ...]  # dim expressions
    strides: tuple[str, ...]  # element strides, expressions

    def offset_at(self, index: list[str | None]) -> str:
        """``offset + sum(i * stride)``; ``None``/"0" entries (broadcast dims) contribute nothing."""
        terms = [] if self.offset == "0" else [self.offset]
        for i, stride in zip(index, self.strides):
            if i is None or i == "0" or stride == "0":  # stride 0: one row stored for all (rows.py)
                continue
            factor = f"({i})" if " " in i else i  # a compound index must bind before the stride
            terms.append(factor if stride == "1" else f"{factor} * {stride}")
        return " + ".join(terms) or "0"

    def element(self, index: list[str | None]) -> str:
        # _ix (numba.uintp, module prelude): an unsigned index skips Numba's negative-index wraparound
        # branch, which otherwise stops LLVM from vectorizing the loop.
        return f"{self.buffer}[_ix({self.offset_at(index)})]"

    def flat(self, position: str) -> str:
        """Element number ``position`` in C order (contiguous refs only)."""
        return f"{self.buffer}[_ix({position if self.offset == '0' else f'{self.offset} + {position}'})]"

    @property
    def contiguous(self) -> bool:
        return self.strides == c_strides(self.shape)

    @property
    def transposed_matrix(self) -> bool:
        """A 2-D transpose of C-contiguous data (F-contiguous: BLAS reads it without a copy)."""
        return len(self.shape) == 2 and self.strides == ("1", self.shape[0])


def product(parts: list[str]) -> str:
    """``a * b * c`` with ones dropped and integer factors folded."""
    const, named = 1, []
    for p in parts:
        if p.isdigit():
            const *= int(p)
        else:
            named.append(p)
    if const == 0:
        return "0"
    return " * ".join(named + ([str(const)] if const != 1 or not named else []))


def c_strides(shape: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(product(list(shape[k + 1:])) for k in range(len(shape)))


def contiguous(buffer: str, offset: str, shape: tuple[str, ...]) -> ArrayRef:
    return ArrayRef(buffer, offset, shape, c_strides(shape))


def view(node: Node, base: ArrayRef, shape: tuple[str, ...]) -> ArrayRef:
    """The ref of a view node (reshape of contiguous data, transpose, slice) over ``base``."""
    if node.op == "check_index":  # the indices themselves, checked once
        return base
    if node.op == "reshape":
        return contiguous(base.buffer, base.offset, shape)
    if node.op == "transpose":
        perm = node.attr("perm")
        return ArrayRef(base.buffer, base.offset, shape, tuple(base.strides[p] for p in perm))
    terms = [base.offset] if base.offset != "0" else []
    strides = []
    for (start, _, step), stride in zip(node.attr("index"), base.strides):
        if start:
            terms.append(f"{start} * {stride}" if stride != "1" else str(start))
        strides.append(stride if step == 1 else product([str(step), stride]) if step > 0 else f"({step}) * {stride}")
    return ArrayRef(base.buffer, " + ".join(terms) or "0", shape, tuple(strides))
