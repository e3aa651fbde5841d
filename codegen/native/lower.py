"""Lower the kernel functions of a generated module to LLVM IR, without Numba's front end.

The generated module is symdiff's readable, exportable form of a compiled function; its kernels use a
small fixed subset of Python (``for ... in range``, ``if``, scalar arithmetic, flat-buffer indexing, calls
to the module's helpers, ``gemm`` and the ``_partN`` functions). The native backend runs that same text:
this walk turns it into IR with Numba's typing rules (kinds.py), so the two backends compute alike.
Every function returns an ``i32`` status: 0, or the number of the ``raise`` that stopped it (see
``Unit.messages``). Anything outside the subset raises :class:`NativeUnsupportedError`.
"""

from __future__ import annotations

import ast
import functools

from llvmlite import ir

from ..fastmath_ir import math_intrinsic
from .calls import call
from .kinds import FLOATS, I32, I64, MEMORY, REGISTER, Buffer, NativeUnsupportedError, Value, convert, promote, unify
from .loops import counted_loop
from .webs import Webs

_ARITH = {ast.Add: ("fadd", "add"), ast.Sub: ("fsub", "sub"), ast.Mult: ("fmul", "mul"), ast.Div: ("fdiv", None)}
_BITS = {ast.BitXor: "xor", ast.BitAnd: "and_", ast.BitOr: "or_", ast.RShift: "lshr", ast.LShift: "shl"}
_COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_NUMPY_CONSTANTS = {"inf": float("inf"), "nan": float("nan"), "pi": 3.141592653589793, "e": 2.718281828459045}


def llvm_type(kind: str | Buffer) -> ir.Type:
    return MEMORY[kind.dtype].as_pointer() if isinstance(kind, Buffer) else REGISTER[kind]


class FunctionLowering:
    """One attempt at lowering a function. Variables live in stack slots (LLVM's mem2reg makes them
    registers), one per web (webs.py) with one kind, as in Numba. When an assignment needs a wider kind
    than its web's slot has, ``conflicts`` records it and the caller lowers the function again."""

    def __init__(self, unit, tree: ast.FunctionDef, kinds: tuple, webs: dict, seeds: dict, symbol: str) -> None:
        self.unit, self.webs, self.seeds, self.conflicts = unit, webs, seeds, {}
        self.assigned: dict = {}  # definition key -> kind of the value it assigned
        self.function = ir.Function(unit.module, ir.FunctionType(I32, [llvm_type(k) for k in kinds]), symbol)
        self.function.linkage = "internal"
        # Stack slots go in a block of their own: one builder appending there never shifts the other's position.
        self.allocas = ir.IRBuilder(self.function.append_basic_block("slots"))
        self.builder = ir.IRBuilder(self.function.append_basic_block("entry"))
        self.slots: dict[object, tuple[ir.Value, str | Buffer]] = {}  # web -> stack slot and kind
        self.bound: list[dict[str, Value]] = []
        for arg, kind, value in zip(tree.args.args, kinds, self.function.args):
            self.assign(arg.arg, ("param", arg.arg), Value(value, kind))
        self.block(tree.body)
        if not self.builder.block.is_terminated:
            self.builder.ret(I32(0))
        self.allocas.branch(self.function.basic_blocks[1])

    # ---------------------------------------------------------------- statements
    def block(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            if self.builder.block.is_terminated:
                return  # after a raise: the rest of the block is unreachable
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            self.store(node.targets[0], id(node), self.expr(node.value))
        elif isinstance(node, ast.AugAssign):
            target = node.target
            if isinstance(target, ast.Name):
                current = self.variable(target.id, id(target))
            else:
                current = self.expr(ast.Subscript(target.value, target.slice, ast.Load()))
            self.store(target, id(node), self.binary(node.op, current, self.expr(node.value)))
        elif isinstance(node, ast.For):
            self.loop(node)
        elif isinstance(node, ast.If):
            self.branch(node)
        elif isinstance(node, ast.Raise):
            self.builder.ret(I32(self.unit.message(node)))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            self.expr(node.value)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) or isinstance(node, ast.Pass):
            pass  # docstring
        else:
            raise NativeUnsupportedError(f"statement {ast.unparse(node)!r}")

    def store(self, target: ast.expr, key: int, value: Value) -> None:
        if isinstance(target, ast.Name):
            self.assign(target.id, key, value)
        elif isinstance(target, ast.Subscript):
            pointer, dtype = self.element(target)
            self.builder.store(convert(self.builder, value, dtype) if dtype != "bool" else
                               self.builder.zext(convert(self.builder, value, "bool"), MEMORY["bool"]), pointer)
        else:
            raise NativeUnsupportedError(f"assignment to {ast.unparse(target)!r}")

    def assign(self, name: str, key, value: Value) -> None:
        """Store to variable ``name`` at definition ``key`` (see webs.Webs)."""
        web = self.webs[key]
        self.assigned[key] = value.kind
        if web not in self.slots:
            kind = self.seeds.get(web, value.kind)
            slot = self.allocas.alloca(llvm_type(kind), name=name)
            self.slots[web] = (slot, kind)
        slot, kind = self.slots[web]
        if isinstance(kind, Buffer) or isinstance(value.kind, Buffer):
            if kind != value.kind:
                raise NativeUnsupportedError(f"variable {name!r} holds both {kind} and {value.kind}")
            self.builder.store(value.ir, slot)
            return
        wider = unify(kind, value.kind)
        if wider != kind:
            self.conflicts[web] = wider
        self.builder.store(convert(self.builder, value, kind), slot)

    def loop(self, node: ast.For) -> None:
        call_node = node.iter
        is_range = isinstance(call_node, ast.Call) and isinstance(call_node.func, ast.Name) and \
            call_node.func.id == "range" and 1 <= len(call_node.args) <= 2
        if not (is_range and isinstance(node.target, ast.Name) and not node.orelse):
            raise NativeUnsupportedError(f"loop {ast.unparse(node.iter)!r}")
        bounds = [convert(self.builder, self.expr(a), "int64") for a in call_node.args]
        start, stop = (I64(0), bounds[0]) if len(bounds) == 1 else bounds

        def body(counter: ir.Value) -> None:
            self.assign(node.target.id, id(node), Value(counter, "int64"))
            self.block(node.body)

        counted_loop(self.builder, start, stop, body)

    def branch(self, node: ast.If) -> None:
        b = self.builder
        condition = convert(b, self.expr(node.test), "bool")
        then, otherwise, merge = (self.function.append_basic_block(n) for n in ("if.then", "if.else", "if.end"))
        b.cbranch(condition, then, otherwise)
        for target, statements in ((then, node.body), (otherwise, node.orelse)):
            b.position_at_end(target)
            self.block(statements)
            if not b.block.is_terminated:
                b.branch(merge)
        b.position_at_end(merge)

    # ---------------------------------------------------------------- expressions
    def expr(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Constant):
            return constant(node.value)
        if isinstance(node, ast.Name):
            return self.variable(node.id, id(node))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "np" \
                and node.attr in _NUMPY_CONSTANTS:
            return constant(_NUMPY_CONSTANTS[node.attr])
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node.op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            return self.compare(_COMPARE[type(node.ops[0])], self.expr(node.left), self.expr(node.comparators[0]))
        if isinstance(node, ast.BoolOp):
            values = [convert(self.builder, self.expr(v), "bool") for v in node.values]
            combine = self.builder.and_ if isinstance(node.op, ast.And) else self.builder.or_
            result = values[0]
            for v in values[1:]:  # operands are side-effect free, so no short circuit is needed
                result = combine(result, v)
            return Value(result, "bool")
        if isinstance(node, ast.IfExp):
            # Both sides evaluated, then a select (vectorizable): the emitters never guard a load by the
            # condition (``where`` reads in-bounds elements on both sides), so nothing unsafe is speculated.
            test, yes, no = (self.expr(n) for n in (node.test, node.body, node.orelse))
            kind = unify(yes.kind, no.kind)
            return Value(self.builder.select(convert(self.builder, test, "bool"), convert(self.builder, yes, kind),
                                             convert(self.builder, no, kind)), kind)
        if isinstance(node, ast.Subscript):
            pointer, dtype = self.element(node)
            loaded = self.builder.load(pointer)
            if dtype == "bool":
                loaded = self.builder.icmp_unsigned("!=", loaded, MEMORY["bool"](0))
            return Value(loaded, dtype)
        if isinstance(node, ast.Call):
            return call(self, node)
        raise NativeUnsupportedError(f"expression {ast.unparse(node)!r}")

    def variable(self, name: str, key: int) -> Value:
        """The value of ``name`` read at ``key`` (a Name node's id): an inlined helper's parameter, a
        variable of this function or a module constant."""
        for scope in reversed(self.bound):
            if name in scope:
                return scope[name]
        web = self.webs.get(key)
        if web in self.slots:
            slot, kind = self.slots[web]
            return Value(self.builder.load(slot), kind)
        if name in self.unit.constants:
            return self.unit.constant_buffer(name, self.builder)
        raise NativeUnsupportedError(f"name {name!r}")

    def element(self, node: ast.Subscript) -> tuple[ir.Value, str]:
        base = self.expr(node.value)
        if not isinstance(base.kind, Buffer):
            raise NativeUnsupportedError(f"indexing a scalar: {ast.unparse(node)!r}")
        index = convert(self.builder, self.expr(node.slice), "int64")
        return self.builder.gep(base.ir, [index], inbounds=True), base.kind.dtype

    def unary(self, node: ast.UnaryOp) -> Value:
        value = self.expr(node.operand)
        if isinstance(node.op, ast.UAdd):
            return value
        if isinstance(node.op, ast.Not):
            return Value(self.builder.not_(convert(self.builder, value, "bool")), "bool")
        if isinstance(node.op, ast.USub):
            kind = value.kind if value.kind in FLOATS else promote(value.kind, value.kind)
            v = convert(self.builder, value, kind)
            return Value(self.builder.fneg(v) if kind in FLOATS else self.builder.neg(v), kind)
        raise NativeUnsupportedError(f"operator {ast.unparse(node)!r}")

    def binary(self, op: ast.operator, left: Value, right: Value) -> Value:
        b = self.builder
        if type(op) in _BITS:
            kind = promote(left.kind, right.kind)
            if kind in FLOATS:
                raise NativeUnsupportedError("bitwise operation on floats")
            shift = getattr(b, "ashr" if type(op) is ast.RShift and kind != "uint64" else _BITS[type(op)])
            return Value(shift(convert(b, left, kind), convert(b, right, kind)), kind)
        if isinstance(op, ast.Pow):
            kind = promote(left.kind, right.kind)
            if kind not in FLOATS:
                raise NativeUnsupportedError("integer power")
            pow_fn = math_intrinsic(b.module, "llvm.pow", REGISTER[kind], 2)
            return Value(b.call(pow_fn, [convert(b, left, kind), convert(b, right, kind)], fastmath=self.unit.flags),
                         kind)
        if type(op) not in _ARITH:
            raise NativeUnsupportedError(f"operator {type(op).__name__}")
        float_op, int_op = _ARITH[type(op)]
        kind = promote(left.kind, right.kind)
        if isinstance(op, ast.Div) and kind not in FLOATS:
            kind = "float64"  # true division of integers
        a, c = convert(b, left, kind), convert(b, right, kind)
        if kind in FLOATS:
            return Value(getattr(b, float_op)(a, c, flags=self.unit.flags), kind)
        return Value(getattr(b, int_op)(a, c), kind)

    def compare(self, symbol: str, left: Value, right: Value) -> Value:
        kind = unify(left.kind, right.kind)
        a, c = convert(self.builder, left, kind), convert(self.builder, right, kind)
        if kind in FLOATS:  # Python: every comparison with nan is False, except != which is True
            test = self.builder.fcmp_unordered(symbol, a, c) if symbol == "!=" else \
                self.builder.fcmp_ordered(symbol, a, c)
        elif kind in ("uint64", "bool"):
            test = self.builder.icmp_unsigned(symbol, a, c)
        else:
            test = self.builder.icmp_signed(symbol, a, c)
        return Value(test, "bool")


def constant(value) -> Value:
    """A Python literal with Numba's kinds: bool, int64, float64."""
    if isinstance(value, bool):
        return Value(REGISTER["bool"](int(value)), "bool")
    if isinstance(value, int):
        return Value(I64(value), "int64")
    if isinstance(value, float):
        return Value(REGISTER["float64"](value), "float64")
    raise NativeUnsupportedError(f"literal {value!r}")


def lower_function(unit, tree: ast.FunctionDef, kinds: tuple, symbol: str) -> ir.Function:
    """``tree`` lowered for arguments of ``kinds``; attempts that widened a variable are left unreferenced
    (internal linkage: LLVM drops them)."""
    seeds: dict = {}
    webs = Webs(tree)
    for attempt in range(4):
        lowering = FunctionLowering(unit, tree, kinds, webs.web_of, seeds, f"{symbol}.{attempt}")
        if not lowering.conflicts:
            _check_reads(lowering, webs, tree.name)
            return lowering.function
        seeds.update(lowering.conflicts)
    raise NativeUnsupportedError(f"variable kinds of {tree.name} do not settle")


def _check_reads(lowering: FunctionLowering, webs: Webs, function: str) -> None:
    """Numba types each read by the definitions that reach it, this lowering by the whole web: they agree
    unless a read sees only definitions narrower than the web (then the kernel goes to Numba)."""
    for read, definitions in webs.reaching.items():
        kinds = [lowering.assigned[d] for d in definitions if d in lowering.assigned]
        if not kinds or any(isinstance(k, Buffer) for k in kinds):
            continue
        seen = functools.reduce(unify, kinds)
        slot_kind = lowering.slots[webs.web_of[read]][1]
        if seen != slot_kind:
            raise NativeUnsupportedError(f"{function}: a variable read as {seen} where its web is {slot_kind}")
