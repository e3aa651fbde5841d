"""The kernel IR (kir.py) lowered to LLVM IR with llvmlite: one walk, every statement to its instructions
(expressions.py lowers the expressions; unit.py holds what a kernel's functions share).

Array parameters are plain pointers, as Numba passes them: ``noalias`` would be true (the kernel refuses arguments
sharing memory with an array it writes) but under fast-math flags it lets LLVM contract a matrix product's sums
differently from Numba, and the two backends must agree bit for bit. A ``For`` with ``lanes`` > 1 runs its body on
SIMD vectors, one lane per iteration.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from .. import kir
from .dtypes import I32, I64, MEMORY, REGISTER
from .expressions import ExpressionLowering, tagged
from .gemm import define_blas, define_gemm, define_gram
from .loops import counted_loop
from .threads import lower_threaded, threaded_nest
from .unit import Unit, declare


class FunctionLowering(ExpressionLowering):
    """Lowers one IR function into the declared LLVM function ``fn``."""

    def __init__(self, unit: Unit, function: kir.Function, fn: ir.Function) -> None:
        self.fn = fn
        # stack slots in a block of their own: appending there never moves the main builder
        self.allocas = ir.IRBuilder(fn.append_basic_block("slots"))
        super().__init__(unit, ir.IRBuilder(fn.append_basic_block("entry")))
        for param, arg in zip(function.params, fn.args):
            if isinstance(param.value, kir.Array):
                self.arrays[param.name] = arg
            else:
                self.assign(param.value, arg)
        self.block(function.body)
        if not self.b.block.is_terminated:
            self.b.ret(I32(0))
        self.allocas.branch(fn.basic_blocks[1])

    # ------------------------------------------------------------ statements
    def block(self, statements) -> None:
        for statement in statements:
            if self.b.block.is_terminated:
                return  # after a raise: unreachable
            self.statement(statement)

    def statement(self, s: kir.Stmt) -> None:
        b = self.b
        if isinstance(s, kir.Let):
            self.assign(s.var, self.expr(s.value))
        elif isinstance(s, kir.Store):
            tags = self.unit.alias_tags(s.array, s.index)
            vector = self.consecutive(s.array, s.index)
            if vector is not None:
                tagged(b.store(self.expr(s.value), vector, align=np.dtype(s.array.dtype).itemsize), tags)
                return
            pointers = self.element(s.array, s.index)
            value = self.expr(s.value)
            if len(pointers) < self.lanes:
                raise ValueError("LLVM lowering: a vector loop stores every lane at one index")
            for lane, pointer in enumerate(pointers):
                item = b.extract_element(value, I32(lane)) if self.lanes > 1 else value
                tagged(b.store(b.zext(item, MEMORY["bool"]) if s.array.dtype == "bool" else item, pointer), tags)
        elif isinstance(s, kir.For):
            self.loop(s)
        elif isinstance(s, kir.If):
            self.branch(s)
        elif isinstance(s, kir.Raise):
            b.ret(I32(self.unit.message(s)))
        elif isinstance(s, kir.Gemm):
            b.call(define_gemm(self.unit.module, s.c.dtype, self.unit.flags), self.gemm_args(s))
        elif isinstance(s, kir.GemmUpdate):
            dtype = s.product.c.dtype
            args = [*self.gemm_args(s.product), self.expr(s.alpha), REGISTER[dtype](1.0)]
            done = b.call(define_blas(self.unit.module, dtype), args)  # beta = 1; false: it did nothing
            with b.if_then(b.not_(done)):
                self.block(s.fallback)
        elif isinstance(s, kir.Gram):
            args = [self.array(s.b), *self.ints(s.b_offset, *s.b_strides), self.array(s.c),
                    *self.ints(s.c_offset, s.k, s.n)]
            b.call(define_gram(self.unit.module, s.c.dtype, self.unit.flags), args)
        elif isinstance(s, kir.CallPart):
            args = [self.array(a) if isinstance(a, kir.Array) else self.expr(a) for a in s.args]
            self.stop_on_error(b.call(self.unit.functions[s.name], args))
        elif not isinstance(s, kir.Comment):
            raise TypeError(f"LLVM lowering: unknown statement {s!r}")

    def stop_on_error(self, status: ir.Value) -> None:
        """Return ``status`` from this function when a function it called raised (a nonzero status)."""
        with self.b.if_then(self.b.icmp_signed("!=", status, I32(0)), likely=False):
            self.b.ret(status)

    def gemm_args(self, s: kir.Gemm) -> list[ir.Value]:
        return [self.array(s.a), *self.ints(s.a_offset, *s.a_strides), self.array(s.b),
                *self.ints(s.b_offset, *s.b_strides), self.array(s.c), *self.ints(s.c_offset, s.m, s.k, s.n)]

    def ints(self, *values: kir.Expr) -> list[ir.Value]:
        return [self.expr(v) for v in values]

    def assign(self, var: kir.Var, value: ir.Value) -> None:
        key = (var.name, self.lanes)
        if key not in self.slots:
            ty = REGISTER[var.dtype] if self.lanes == 1 else ir.VectorType(REGISTER[var.dtype], self.lanes)
            self.slots[key] = self.allocas.alloca(ty, name=var.name)
        self.b.store(value, self.slots[key])
        self.current[key] = (self.b.block, value)

    def loop(self, s: kir.For) -> None:
        nest = threaded_nest(s)
        if nest is not None:
            lower_threaded(self, s, nest)
            return
        start, stop = self.expr(s.start), self.expr(s.stop)
        if s.lanes == 1:
            def body(i: ir.Value) -> None:
                self.assign(s.var, i)
                self.block(s.body)
            counted_loop(self.b, start, stop, body)
            return
        outer, self.lanes = self.lanes, s.lanes
        steps = self.b.sdiv(self.b.sub(stop, start), I64(s.lanes))

        def vector_body(step: ir.Value) -> None:
            first = self.b.add(start, self.b.mul(step, I64(s.lanes)))
            lanes = self.splat(first)
            self.assign(s.var, self.b.add(lanes, ir.Constant(lanes.type, list(range(s.lanes)))))
            self.lane_starts[s.var.name] = first
            self.block(s.body)
        try:
            counted_loop(self.b, I64(0), steps, vector_body)
        finally:
            self.lanes = outer
            self.lane_starts.pop(s.var.name, None)

    def branch(self, s: kir.If) -> None:
        b = self.b
        then, otherwise, merge = (self.fn.append_basic_block(n) for n in ("if.then", "if.else", "if.end"))
        b.cbranch(self.expr(s.test), then, otherwise)
        for block, statements in ((then, s.body), (otherwise, s.orelse)):
            b.position_at_end(block)
            self.block(statements)
            if not b.block.is_terminated:
                b.branch(merge)
        b.position_at_end(merge)

def lower_kernel(module: ir.Module, kernel: kir.Kernel, prefix: str = "symdiff_kernel") -> Unit:
    """Every function of ``kernel`` into ``module`` (parts ``noinline`` and internal: they bound what LLVM
    optimizes at once); returns the unit (its ``functions`` by name and the raise ``messages``)."""
    unit = Unit(module, kernel)
    for k, function in enumerate(kernel.functions):
        fn = declare(unit, function, prefix if k == 0 else f"{prefix}_{function.name}")
        if k:
            fn.linkage = "internal"
            fn.attributes.add("noinline")
    for function in reversed(kernel.functions):  # parts first: callers find their declarations
        FunctionLowering(unit, function, unit.functions[function.name])
    return unit
