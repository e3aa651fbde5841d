"""``einsum`` for explicit contractions (``"ij,jk->ik"``), lowered to transposes, sums and batched matmul.

Supported: letters only, an explicit ``->`` output, each letter at most once per operand; operands are contracted
left to right, two at a time. A letter in both operands and the output is a batch axis of the product, a letter
in both but not the output is summed by the product, a letter in one operand only and not the output is summed
first. Traces, diagonals and ``...`` are refused with a ValueError naming the spec.
"""

from __future__ import annotations

import math

from ..ir import Node, ShapeError
from .convert import as_node
from .linalg import matmul
from .reductions import sum
from .shape_ops import reshape, transpose


def einsum(spec: str, *operands) -> Node:
    """Einstein summation over explicit subscripts, e.g. ``einsum("bij,bjk->bik", a, b)``."""
    inputs, output = _parse(spec, len(operands))
    nodes = [as_node(x) for x in operands]
    for letters, node in zip(inputs, nodes):
        if len(letters) != node.ndim:
            raise ValueError(f"einsum {spec!r}: subscripts {letters!r} name {len(letters)} axes, the operand has "
                             f"shape {node.shape}")
    sizes: dict[str, object] = {}
    for letters, node in zip(inputs, nodes):
        for letter, dim in zip(letters, node.shape):
            if sizes.setdefault(letter, dim) != dim and dim != 1 and sizes[letter] != 1:
                raise ShapeError(f"einsum {spec!r}: axis {letter!r} has sizes {sizes[letter]} and {dim}")
    letters, value = inputs[0], nodes[0]
    for k in range(1, len(nodes)):
        later = set(output).union(*inputs[k + 1:])
        letters, value = _contract(letters, value, inputs[k], nodes[k], later)
    letters, value = _sum_unused(letters, value, set(output))
    return transpose(value, tuple(letters.index(c) for c in output)) if letters != output else value


def _parse(spec: str, count: int) -> tuple[list[str], str]:
    if not isinstance(spec, str) or "->" not in spec:
        raise ValueError(f"einsum {spec!r}: give the output explicitly after '->'")
    left, output = spec.replace(" ", "").split("->")
    inputs = left.split(",")
    if len(inputs) != count:
        raise ValueError(f"einsum {spec!r}: {len(inputs)} operands in the spec, {count} operands given")
    for part in inputs + [output]:
        if not all(c.isascii() and c.isalpha() for c in part):
            raise ValueError(f"einsum {spec!r}: subscripts must be letters ('...' is not supported), got {part!r}")
        if len(set(part)) != len(part):
            raise ValueError(f"einsum {spec!r}: a letter is repeated in {part!r} (traces and diagonals are not "
                             "supported)")
    unknown = set(output) - set("".join(inputs))
    if unknown:
        raise ValueError(f"einsum {spec!r}: output letter {sorted(unknown)[0]!r} is in no operand")
    return inputs, output


def _sum_unused(letters: str, value: Node, keep: set[str]) -> tuple[str, Node]:
    gone = tuple(a for a, c in enumerate(letters) if c not in keep)
    if not gone:
        return letters, value
    return "".join(c for c in letters if c in keep), sum(value, gone)


def _merged(node: Node, groups: list[list[int]]) -> Node:
    """``node`` with each group of axes (in order) merged into one axis (an empty group is a length-1 axis); a
    group holding a named dim must be that dim alone."""
    shape = []
    for group in groups:
        dims = [node.shape[a] for a in group]
        if len(dims) == 1:
            shape.append(dims[0])
        elif any(isinstance(d, str) for d in dims):
            raise ShapeError(f"einsum: cannot merge the named dim among axes {dims} into one matrix axis")
        else:
            shape.append(math.prod(dims))
    return reshape(node, tuple(shape))


def _contract(a_letters: str, a: Node, b_letters: str, b: Node, later: set[str]) -> tuple[str, Node]:
    """One pairwise product as a batched matmul: (batch, a's free, summed) @ (batch, summed, b's free)."""
    a_letters, a = _sum_unused(a_letters, a, later | set(b_letters))
    b_letters, b = _sum_unused(b_letters, b, later | set(a_letters))
    batch = [c for c in a_letters if c in b_letters and c in later]
    summed = [c for c in a_letters if c in b_letters and c not in later]
    a_free = [c for c in a_letters if c not in b_letters]
    b_free = [c for c in b_letters if c not in a_letters]
    a = transpose(a, tuple(a_letters.index(c) for c in batch + a_free + summed))
    b = transpose(b, tuple(b_letters.index(c) for c in batch + summed + b_free))
    nb, nf, ns = len(batch), len(a_free), len(summed)
    free_dims = a.shape[nb:nb + nf] + b.shape[nb + ns:]
    lead = [[k] for k in range(nb)]
    a = _merged(a, lead + [list(range(nb, nb + nf)), list(range(nb + nf, nb + nf + ns))])
    b = _merged(b, lead + [list(range(nb, nb + ns)), list(range(nb + ns, b.ndim))])
    product = matmul(a, b)
    return "".join(batch + a_free + b_free), reshape(product, tuple(product.shape[:nb]) + tuple(free_dims))
