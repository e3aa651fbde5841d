"""Kernel IR expressions (kir.py) lowered to LLVM instructions, as scalars or as SIMD vectors.

Scalar variables live in stack slots that LLVM's mem2reg turns into registers. Inside a ``For`` with ``lanes`` > 1
values are vectors, one lane per iteration; loads and stores go lane by lane (points of a pointwise kernel sit in
rows, so their columns are strided).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from .. import kir
from .dtypes import I1, I32, I64, MEMORY, REGISTER, convert
from .functions import call_function, intrinsic
from .unit import Unit

_FLOAT_OPS = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv"}
_INT_OPS = {"add": "add", "sub": "sub", "mul": "mul", "bitand": "and_", "xor": "xor", "shl": "shl", "idiv": "sdiv"}
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}


def _structure(e: kir.Expr) -> tuple | None:
    """A hashable description of an index expression built from variables, constants and integer ops; None for
    anything else (loads, calls), which is then never shared."""
    if isinstance(e, kir.Var):
        return ("var", e.name)
    if isinstance(e, kir.Const):
        return ("const", e.value, e.dtype)
    if isinstance(e, kir.Op):
        args = [_structure(a) for a in e.args]
        return None if None in args else (e.op, *args)
    return None


def _stride(e: kir.Expr, counter: str) -> int | None:
    """How much integer index ``e`` grows when the variable ``counter`` grows by 1 (None: not affine in it)."""
    if isinstance(e, kir.Var):
        return int(e.name == counter)
    if isinstance(e, kir.Const):
        return 0
    if isinstance(e, kir.Op) and e.op in ("add", "sub", "mul"):
        a, b = (_stride(x, counter) for x in e.args)
        if a is None or b is None:
            return None
        if e.op == "add":
            return a + b
        if e.op == "sub":
            return a - b
        constant = [isinstance(x, kir.Const) for x in e.args]
        if constant[0] or constant[1]:  # c * x: stride c times x's
            c, other = (e.args[0].value, b) if constant[0] else (e.args[1].value, a)
            return c * other
        return None if a or b else 0
    return None


def tagged(instruction: ir.Instruction, tags: tuple[ir.MDValue, ir.MDValue] | None) -> ir.Instruction:
    """``instruction`` (a load or store) with the alias scope metadata of its workspace slot, if any."""
    if tags is not None:
        instruction.set_metadata("alias.scope", tags[0])
        instruction.set_metadata("noalias", tags[1])
    return instruction


class _VectorValueError(Exception):
    """An index reads a vector value other than the loop counter: it cannot be computed lane by lane."""


class ExpressionLowering:
    """Lowers expressions at the position of ``b`` (an IR builder), as scalars or as vectors of ``lanes``."""

    def __init__(self, unit: Unit, b: ir.IRBuilder, lanes: int = 1) -> None:
        self.unit, self.b, self.lanes = unit, b, lanes
        self.slots: dict[tuple[str, int], ir.Value] = {}  # (variable, lanes) -> stack slot
        # (variable, lanes) -> (block, value) of its last assignment: reads later in that block use the value
        # itself, so straight-line bodies reach LLVM in SSA form (thousands of loads fewer for mem2reg to remove)
        self.current: dict[tuple[str, int], tuple[ir.Block, ir.Value]] = {}
        self.lane_starts: dict[str, ir.Value] = {}  # vector loop counter -> its first value (a scalar)
        self.lane: int | None = None  # the lane per_lane is computing
        self.rows: dict[tuple, list[ir.Value]] = {}  # (block, array, index structure) -> a pointer per lane
        self.arrays: dict[str, ir.Value] = {}

    # ------------------------------------------------------------ expressions
    def splat(self, value: ir.Value) -> ir.Value:
        """A scalar as a vector of ``lanes`` copies (unchanged outside vector loops)."""
        if self.lanes == 1 or isinstance(value.type, ir.VectorType):
            return value
        vector = ir.VectorType(value.type, self.lanes)
        if isinstance(value, ir.Constant):
            return ir.Constant(vector, [value.constant] * self.lanes)
        one = self.b.insert_element(ir.Constant(vector, ir.Undefined), value, I32(0))
        return self.b.shuffle_vector(one, one, ir.Constant(ir.VectorType(I32, self.lanes), [0] * self.lanes))

    def array(self, array: kir.Array) -> ir.Value:
        if array.name in self.arrays:
            return self.arrays[array.name]
        data = self.unit.constant(array.name)
        first = self.b.gep(data, [I64(0), I64(0)], inbounds=True)
        element = MEMORY[array.dtype]
        return first if first.type.pointee == element else self.b.bitcast(first, element.as_pointer())

    def element(self, array: kir.Array, index: kir.Expr) -> list[ir.Value]:
        """Pointers to the element(s) at ``index``: one per lane."""
        if self.lanes > 1 and self.lane_starts:
            pointers = self.lane_pointers(array, index)
            if pointers is not None:
                return pointers
        base, position = self.array(array), self.expr(index)
        if not isinstance(position.type, ir.VectorType):
            return [self.b.gep(base, [position], inbounds=True)]
        return [self.b.gep(base, [self.b.extract_element(position, I32(k))], inbounds=True)
                for k in range(self.lanes)]

    def lane_pointers(self, array: kir.Array, index: kir.Expr) -> list[ir.Value] | None:
        """Per lane, a pointer to ``array[index]``: ``index`` = row + constant becomes one row pointer per lane
        (made once per block) plus the constant, as loops over rows are written by hand; LLVM's loop passes then
        see a few base pointers instead of an address computation per access."""
        offset = None
        if isinstance(index, kir.Op) and index.op == "add" and isinstance(index.args[1], kir.Const):
            index, offset = index.args
        shape = _structure(index)
        key = (self.b.block, array.name, shape)
        rows = self.rows.get(key)
        if rows is None:
            positions = self.per_lane(index)
            if positions is None:
                return None
            base = self.array(array)
            rows = [self.b.gep(base, [p], inbounds=True) for p in positions]
            if shape is not None:
                self.rows[key] = rows
        if offset is None:
            return rows
        return [self.b.gep(row, [I64(offset.value)], inbounds=True) for row in rows]

    def consecutive(self, array: kir.Array, index: kir.Expr) -> ir.Value | None:
        """A vector pointer to ``array[index]`` when the lanes of a vector loop access consecutive elements (the
        index grows by 1 with the loop counter), else None: one vector load or store instead of one per lane."""
        if self.lanes == 1 or array.dtype == "bool" or len(self.lane_starts) != 1:
            return None
        (counter,) = self.lane_starts
        if _stride(index, counter) != 1:
            return None
        pointers = self.lane_pointers(array, index)
        if pointers is None:
            return None
        return self.b.bitcast(pointers[0], ir.VectorType(MEMORY[array.dtype], self.lanes).as_pointer())

    def per_lane(self, index: kir.Expr) -> list[ir.Value] | None:
        """``index`` computed as a scalar per lane (the loop counter of lane k is its first value + k), so every
        address is a base plus a constant that LLVM folds; None when it reads another vector value."""
        lanes, self.lanes = self.lanes, 1
        try:
            positions = []
            for self.lane in range(lanes):
                positions.append(self.expr(index))
            return positions
        except _VectorValueError:
            return None
        finally:
            self.lanes, self.lane = lanes, None

    def expr(self, e: kir.Expr, memo: dict | None = None) -> ir.Value:
        """``e`` as an LLVM value (a vector in vector loops). ``memo`` shares the nodes of a DAG."""
        if memo is not None and id(e) in memo:
            return memo[id(e)]
        value = self._expr(e, memo)
        if memo is not None:
            memo[id(e)] = value
        return value

    def _expr(self, e: kir.Expr, memo: dict | None) -> ir.Value:
        b = self.b
        if isinstance(e, kir.Const):
            return self.splat(ir.Constant(REGISTER[e.dtype], e.value))
        if isinstance(e, kir.Var):
            if self.lane is not None:  # a scalar per lane (per_lane)
                if e.name in self.lane_starts:
                    return b.add(self.lane_starts[e.name], I64(self.lane))
                if (e.name, 1) not in self.slots:
                    raise _VectorValueError(e.name)
            for lanes in (self.lanes, 1):
                known = self.current.get((e.name, lanes))
                if known is not None and known[0] is b.block:  # assigned earlier in this block: that value
                    return self.splat(known[1])
                slot = self.slots.get((e.name, lanes))
                if slot is not None:
                    return self.splat(b.load(slot))
            raise NameError(f"LLVM lowering: variable {e.name!r} is read before any assignment")
        if isinstance(e, kir.Load):
            tags = self.unit.alias_tags(e.array, e.index)
            vector = self.consecutive(e.array, e.index)
            if vector is not None:
                return tagged(b.load(vector, align=np.dtype(e.array.dtype).itemsize), tags)
            loaded = [tagged(b.load(p), tags) for p in self.element(e.array, e.index)]
            if e.array.dtype == "bool":
                loaded = [b.icmp_unsigned("!=", v, MEMORY["bool"](0)) for v in loaded]
            if self.lanes == 1:
                return loaded[0]
            if len(loaded) == 1:  # an index the same in every lane
                return self.splat(loaded[0])
            vector = ir.Constant(ir.VectorType(REGISTER[e.dtype], self.lanes), ir.Undefined)
            for k, v in enumerate(loaded):
                vector = b.insert_element(vector, v, I32(k))
            return vector
        if isinstance(e, kir.Cast):
            return convert(b, self.expr(e.value, memo), e.value.dtype, e.dtype)
        if isinstance(e, kir.Bitcast):
            value = self.expr(e.value, memo)
            target = REGISTER[e.dtype]
            if isinstance(value.type, ir.VectorType):
                target = ir.VectorType(target, value.type.count)
            return b.bitcast(value, target)
        if isinstance(e, kir.Call):
            return call_function(self, e, [self.expr(a, memo) for a in e.args])
        if isinstance(e, kir.Disjoint):
            spans = [self.extent(array, count) for array, count in zip(e.arrays, e.sizes)]
            clash = ir.Constant(I1, 0)
            for i, (a0, a1) in enumerate(spans):
                for j in range(i + 1, len(spans)):
                    if e.written[i] or e.written[j]:  # empty spans never meet: a0 < b1 and b0 < a1 fails
                        b0, b1 = spans[j]
                        meet = b.and_(b.icmp_unsigned("<", a0, b1), b.icmp_unsigned("<", b0, a1))
                        clash = b.or_(clash, b.and_(meet, b.and_(b.icmp_unsigned("<", a0, a1),
                                                                 b.icmp_unsigned("<", b0, b1))))
            return b.not_(clash)
        if isinstance(e, kir.Op):
            return self.operation(e, [self.expr(a, memo) for a in e.args])
        raise TypeError(f"LLVM lowering: unknown expression {e!r}")

    def extent(self, array: kir.Array, count: kir.Expr) -> tuple[ir.Value, ir.Value]:
        """The first and one-past-last addresses of ``count`` elements of ``array``."""
        start = self.b.ptrtoint(self.array(array), I64)
        size = np.dtype(array.dtype).itemsize
        return start, self.b.add(start, self.b.mul(self.expr(count), I64(size)))

    def operation(self, e: kir.Op, args: list[ir.Value]) -> ir.Value:
        b, name, flags = self.b, e.op, self.unit.flags
        dtype = e.args[-1].dtype  # the operands' dtype (select: the values')
        floating = dtype in kir.FLOATS
        if name == "select":
            return b.select(*args)
        if name in _COMPARE:
            predicate = _COMPARE[name]
            if floating:  # as Python: every comparison with nan is false, except != which is true
                return (b.fcmp_unordered if name == "ne" else b.fcmp_ordered)(predicate, *args)
            unsigned = dtype in ("uint64", "bool")
            return (b.icmp_unsigned if unsigned else b.icmp_signed)(predicate, *args)
        if floating and name in _FLOAT_OPS:
            return getattr(b, _FLOAT_OPS[name])(*args, flags=flags)
        if name in _INT_OPS:
            return getattr(b, _INT_OPS[name])(*args)
        if name == "shr":
            return (b.lshr if dtype == "uint64" else b.ashr)(*args)
        if name in ("and", "or"):
            return getattr(b, name + "_")(*args)
        if name == "not":
            return b.not_(args[0])
        if name == "neg":
            return b.fneg(args[0], flags=flags) if floating else b.neg(args[0])
        if name == "abs":
            if floating:
                return b.call(intrinsic(b.module, "llvm.fabs", args[0].type), args, fastmath=flags)
            zero = ir.Constant(args[0].type, 0)
            return b.select(b.icmp_signed("<", args[0], zero), b.neg(args[0]), args[0])
        if name in ("max", "min"):  # NumPy's maximum/minimum: a nan in either argument wins
            x, y = args
            if not floating:
                return b.select(b.icmp_signed(">" if name == "max" else "<", x, y), x, y)
            keep = b.or_(b.fcmp_ordered(">" if name == "max" else "<", x, y), b.fcmp_unordered("uno", x, x))
            return b.select(keep, x, y)
        if name == "sign":  # NumPy's: +-1 also for +-inf, +0.0 for +-0, nan for nan
            x = args[0]
            zero = ir.Constant(x.type, 0.0)
            step = b.fsub(b.uitofp(b.fcmp_ordered(">", x, zero), x.type), b.uitofp(b.fcmp_ordered("<", x, zero),
                                                                                      x.type))
            return b.select(b.fcmp_unordered("uno", x, x), x, step)
        if name in ("pow", "fmuladd"):
            return b.call(intrinsic(b.module, f"llvm.{name}", args[0].type, len(args)), args, fastmath=flags
                          if name == "pow" else ())
        raise TypeError(f"LLVM lowering: op {name!r} on {dtype}")
