"""The counted loop the native lowering and its gemm build: ``for i in range(start, stop)`` in IR; and the
smallest of signed integers (a chunk's or panel's end)."""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from .dtypes import I64


def counted_loop(b: ir.IRBuilder, start: ir.Value, stop: ir.Value, body: Callable[[ir.Value], None]) -> None:
    """``for i in range(start, stop): body(i)`` at ``b``'s position; ``body`` may end in a return."""
    before = b.block
    head, inner, done = (b.function.append_basic_block(n) for n in ("for.head", "for.body", "for.end"))
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(start, before)
    b.cbranch(b.icmp_signed("<", i, stop), inner, done)
    b.position_at_end(inner)
    body(i)
    if not b.block.is_terminated:
        i.add_incoming(b.add(i, I64(1)), b.block)
        b.branch(head)
    b.position_at_end(done)


def smallest(b: ir.IRBuilder, *values: ir.Value) -> ir.Value:
    """``min(values)`` of signed integers."""
    out = values[0]
    for value in values[1:]:
        out = b.select(b.icmp_signed("<", value, out), value, out)
    return out
