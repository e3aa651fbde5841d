"""The kernel IR printed as Numba source: the readable, exportable form of a compiled function.

Every IR node is written with its type explicit (``np.float32(...)`` literals and casts, ``np.int32`` around
int32 arithmetic), so Numba infers exactly the IR's types and computes what the LLVM lowering computes. Only what
the kernel uses is printed: the helpers (nan-aware max/min, sign, bit casts, fused multiply-add), symdiff's fast
functions (fastlib.py, printed as plain vectorizable functions), the C-library and intrinsic math of the function
table, and ``gemm``. A short value read once is written into the statement reading it, so a line reads like a formula.
"""

from __future__ import annotations

import math

import numpy as np

from symdiff.ops.functions import FUNCTIONS

from . import kir
from .fastlib import fast_function
from .kir_walks import operands, read_once, reader, sub_expressions

NUMPY_TYPE = {"float64": "np.float64", "float32": "np.float32", "int64": "np.int64", "int32": "np.int32",
              "uint64": "np.uint64", "bool": "np.bool_"}
NUMBA_TYPE = {"float64": "numba.float64", "float32": "numba.float32", "int64": "numba.int64",
              "int32": "numba.int32", "uint64": "numba.uint64", "bool": "numba.boolean"}
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "bitand": "&", "xor": "^", "shl": "<<",
          "shr": ">>", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=", "and": "&",
          "or": "|", "idiv": "//"}

#: Helper definitions by name, printed into a module only when its kernel uses them.
HELPERS = {
    "_ix": "_ix = numba.uintp  # unsigned array indices: no wraparound branch, so loops vectorize\n",
    "_max": '''@numba.njit
def _max(a, b):
    return a if a > b or a != a else b  # NumPy's maximum: a nan wins
''',
    "_min": '''@numba.njit
def _min(a, b):
    return a if a < b or a != a else b  # NumPy's minimum: a nan wins
''',
    "_sign": '''@numba.njit
def _sign(a):
    return a if a != a else (a > 0) - (a < 0)  # NumPy's: +-1 also for +-inf, +0.0 for +-0, nan for nan
''',
    "_disjoint": '''@numba.njit
def _disjoint(starts, ends, written):
    """True when no written span [start, end) of bytes meets another span."""
    for i in range(len(starts)):
        for j in range(i + 1, len(starts)):
            if (written[i] or written[j]) and starts[i] < ends[j] and starts[j] < ends[i] \\
                    and starts[i] < ends[i] and starts[j] < ends[j]:
                return False
    return True
''',
    "_bitcast": '''@numba.extending.intrinsic
def _bitcast(typingctx, x):
    """The bits of a float64 (float32) as an int64 (int32), or of an int64 (int32) as a float64 (float32)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(signature.return_type))
    floats = {64: numba.float64, 32: numba.float32}
    other = numba.types.Integer.from_bitwidth(x.bitwidth) if isinstance(x, numba.types.Float) else floats[x.bitwidth]
    return other(x), codegen
''',
    "_fmuladd": '''@numba.extending.intrinsic
def _fmuladd(typingctx, a, b, c):
    """a * b + c on three floats of one type, fused where the CPU can (LLVM's fmuladd)."""
    def codegen(context, builder, signature, args):
        d = args[0].type
        fmuladd = builder.module.declare_intrinsic("llvm.fmuladd", [d], llvmlite.ir.FunctionType(d, [d, d, d]))
        return builder.call(fmuladd, args)
    if isinstance(a, numba.types.Float) and a == b == c:
        return a(a, a, a), codegen
''',
}


def literal(value: bool | int | float, dtype: str) -> str:
    """Source text for a constant of ``dtype`` (exact: repr round-trips doubles)."""
    if dtype == "bool":
        return repr(bool(value))
    if dtype == "int64":
        return repr(int(value))
    if dtype in ("int32", "uint64"):
        return f"{NUMPY_TYPE[dtype]}({int(value)!r})"
    v = float(value)
    text = "np.inf" if v == math.inf else "-np.inf" if v == -math.inf else "np.nan" if v != v else repr(v)
    return f"np.float32({text})" if dtype == "float32" else text


#: The longest value written into its reader: a longer one (a small product's sum) keeps its line and its note.
_WRITTEN_INTO_WIDTH = 72


class Printer:
    """Prints expressions and statements, recording the helpers and fast functions they use."""

    def __init__(self, libm: bool = False) -> None:
        self.libm = libm
        self.helpers: set[str] = set()
        self.fast: set[tuple[str, bool]] = set()
        self.gemm = False
        self.gram = False
        self.math = False  # whether a math.* function is called (the module imports math only then)
        self.bound: dict[int, str] = {}  # id of an expression -> the variable already holding it
        self.once: set[str] = set()  # variables of the function being printed that are assigned and read once
        self.written_into: dict[str, str] = {}  # such a variable -> its value's text, printed where it is read
        self.written_reads: dict[str, tuple[set[str], bool]] = {}  # -> the variables that text reads; if it loads

    # ------------------------------------------------------------ expressions
    def expr(self, e: kir.Expr) -> str:
        if id(e) in self.bound:
            return self.bound[id(e)]
        if isinstance(e, kir.Const):
            return literal(e.value, e.dtype)
        if isinstance(e, kir.Var):
            return self.written_into.get(e.name, e.name)
        if isinstance(e, kir.Load):
            return f"{e.array.name}[{self.index(e.index)}]"
        if isinstance(e, kir.Cast):
            if e.dtype == "bool":
                return f"({self.expr(e.value)} != {literal(0, e.value.dtype)})"
            return f"{NUMPY_TYPE[e.dtype]}({self.expr(e.value)})"
        if isinstance(e, kir.Bitcast):  # an intrinsic: NumPy scalars' .view types slower (+0.2 s of a cold import)
            self.helpers.add("_bitcast")
            return f"_bitcast({self.expr(e.value)})"
        if isinstance(e, kir.Call):
            return self.call(e)
        if isinstance(e, kir.Disjoint):
            self.helpers.add("_disjoint")
            starts = [f"{a.name}.ctypes.data" for a in e.arrays]
            ends = [f"{a.name}.ctypes.data + {self.expr(n)} * {a.name}.itemsize" for a, n in zip(e.arrays, e.sizes)]
            return f"_disjoint(({', '.join(starts)}), ({', '.join(ends)}), {tuple(e.written)!r})"
        if isinstance(e, kir.Op):
            return self.operation(e)
        raise TypeError(f"Numba printer: unknown expression {e!r}")

    def gemm_args(self, s: kir.Gemm) -> list[str]:
        """The arguments of blas.py's ``gemm`` for ``s``."""
        self.gemm = True
        return [s.a.name, *self.int64s(s.a_offset, *s.a_strides), s.b.name, *self.int64s(s.b_offset, *s.b_strides),
                s.c.name, *self.int64s(s.c_offset, s.m, s.k, s.n)]

    def int64s(self, *values: kir.Expr) -> list[str]:
        """Integer arguments of gemm/gram, each as np.int64: literals would each compile a specialization."""
        return [f"np.int64({self.expr(v)})" for v in values]

    def index(self, e: kir.Expr) -> str:
        self.helpers.add("_ix")
        return f"_ix({self.expr(e)})"

    def operation(self, e: kir.Op) -> str:
        args = [self.expr(a) for a in e.args]
        name = e.op
        if name == "pow" and args[0].startswith("-"):  # a negative literal: Python reads -2.0 ** y as -(2.0 ** y),
            args[0] = f"{NUMPY_TYPE[e.dtype]}({args[0]})"  # and folds (-2.0) ** 0.5 into a complex constant
        if name in _INFIX:
            text = f"({args[0]} {_INFIX[name]} {args[1]})"
        elif name == "neg":
            text = f"(-{args[0]})"
        elif name == "not":
            text = f"(not {args[0]})"
        elif name == "abs":
            text = f"abs({args[0]})"
        elif name in ("max", "min", "sign"):
            self.helpers.add("_" + name)
            text = f"_{name}({', '.join(args)})"
        elif name == "select":
            text = f"({args[1]} if {args[0]} else {args[2]})"
        elif name == "fmuladd":
            self.helpers.add("_fmuladd")
            text = f"_fmuladd({', '.join(args)})"
        else:
            raise TypeError(f"Numba printer: op {name!r}")
        # Numba widens int32 arithmetic to int64, and sign's ints to float64: keep the IR's dtype
        if e.dtype == "int32" and name != "select" or e.dtype == "float32" and name == "sign":
            return f"{NUMPY_TYPE[e.dtype]}({text})"
        return text

    def call(self, e: kir.Call) -> str:
        record = FUNCTIONS.get(e.function)
        if record is None:
            raise NotImplementedError(f"Numba printer: no spelling for the function {e.function!r}")
        route = record.libm if self.libm and record.libm else record.kernel
        args = ", ".join(self.expr(a) for a in e.args)
        if route.startswith("fast"):
            libm = route == "fast.libm"
            self.fast.add((e.function, libm, e.dtype))
            return f"{fast_name(e.function, libm, e.dtype)}({args})"
        text = f"{record.numba}({args})"
        self.math = self.math or record.numba.startswith("math.")
        return f"np.float32({text})" if e.dtype == "float32" else text  # math.* may return float64

    # ------------------------------------------------------------ statements
    def body(self, statements, indent: str) -> list[str]:
        """A function's body. A short let read once, by a later let or store of its block, is written into that reader
        (``_ws[i] = (a * b) + c``, not a line per op), as the fast functions are; Python evaluates the nested
        expression in the same order, so Numba computes the same values."""
        self.once = read_once(statements)
        try:
            return self.block(statements, indent)
        finally:
            self.once, self.written_into, self.written_reads = set(), {}, {}

    def block(self, statements, indent: str) -> list[str]:
        statements = list(statements)
        lines: list[str] = []
        notes: dict[int, str] = {}  # a store -> the note of the let written into it (the graph node it stores)
        for k, s in enumerate(statements):
            reads = self._reads(s.value) if isinstance(s, kir.Let) and s.var.name in self.once else None
            if reads is not None and (at := reader(statements, k, *reads)) is not None \
                    and len(text := self.expr(s.value)) <= _WRITTEN_INTO_WIDTH:
                self.written_into[s.var.name], self.written_reads[s.var.name] = text, reads
                target = statements[at]
                if s.note and isinstance(target, kir.Store) and isinstance(target.value, kir.Var) \
                        and target.value.name == s.var.name:
                    notes[at] = s.note
                continue
            printed = self.statement(s, indent)
            if k in notes:
                printed[0] += f"  # {notes[k]}"
            lines += printed
        return lines if any(not line.lstrip().startswith("#") for line in lines) else lines + [f"{indent}pass"]

    def _reads(self, value: kir.Expr) -> tuple[set[str], bool]:
        """The variables ``value`` reads and whether it loads, with those of the values written into it."""
        names, loads = set(), False
        for e in sub_expressions(value):
            if isinstance(e, kir.Var):
                inner, inner_loads = self.written_reads.get(e.name, ((), False))
                names.update([e.name, *inner])
                loads |= inner_loads
            loads |= isinstance(e, kir.Load)
        return names, loads

    def statement(self, s: kir.Stmt, indent: str) -> list[str]:
        if isinstance(s, kir.Let):
            note = f"  # {s.note}" if s.note else ""
            return [f"{indent}{s.var.name} = {self.expr(s.value)}{note}"]
        if isinstance(s, kir.Store):
            return [f"{indent}{s.array.name}[{self.index(s.index)}] = {self.expr(s.value)}"]
        if isinstance(s, kir.For):
            bounds = self.expr(s.stop) if isinstance(s.start, kir.Const) and s.start.value == 0 else \
                f"{self.expr(s.start)}, {self.expr(s.stop)}"
            return [f"{indent}for {s.var.name} in range({bounds}):"] + self.block(s.body, indent + "    ")
        if isinstance(s, kir.If):
            lines = [f"{indent}if {self.expr(s.test)}:"] + self.block(s.body, indent + "    ")
            if s.orelse:
                lines += [f"{indent}else:"] + self.block(s.orelse, indent + "    ")
            return lines
        if isinstance(s, kir.Raise):
            return [f"{indent}raise {s.exception}({s.message!r})"]
        if isinstance(s, kir.Gemm):
            return [f"{indent}gemm({', '.join(self.gemm_args(s))})"]
        if isinstance(s, kir.GemmUpdate):  # blas.py's blas_product with beta = 1; False: it did nothing
            args = ", ".join([*self.gemm_args(s.product), self.expr(s.alpha), "1.0"])
            return [f"{indent}if not blas_product({args}):"] + self.block(s.fallback, indent + "    ")
        if isinstance(s, kir.Gram):
            self.gemm = self.gram = True
            args = [s.b.name, *self.int64s(s.b_offset, *s.b_strides), s.c.name, *self.int64s(s.c_offset, s.k, s.n)]
            return [f"{indent}gram({', '.join(args)})"]
        if isinstance(s, kir.CallPart):
            args = [a.name if isinstance(a, kir.Array) else self.expr(a) for a in s.args]
            return [f"{indent}{s.name}({', '.join(args)})"]
        if isinstance(s, kir.Comment):
            return [f"{indent}# {line}" for line in s.text.splitlines()]
        raise TypeError(f"Numba printer: unknown statement {s!r}")


def fast_name(name: str, libm: bool, dtype: str = "float64") -> str:
    suffix = "" if dtype == "float64" else "_f32"
    return f"{name}_libm{suffix}" if libm else f"fast_{name}{suffix}"


def fast_function_source(name: str, libm: bool, dtype: str, printer: Printer) -> str:
    """A fast function as a plain Numba function: a line per value used more than once, the rest inline."""
    definition = fast_function(name, libm, dtype)
    order, uses = _post_order(definition.body)
    lines = []
    for e in order:
        if uses[id(e)] > 1 and not isinstance(e, kir.Const | kir.Var):
            text = printer.expr(e)
            printer.bound[id(e)] = f"t{len(lines)}"
            lines.append(f"    t{len(lines)} = {text}")
    result = printer.expr(definition.body)
    printer.bound.clear()
    doc = (definition.doc or "").strip()
    return "\n".join(["@numba.njit(cache=True, error_model='numpy')", f"def {fast_name(name, libm, dtype)}(x):",
                      f'    """{doc}"""', *lines, f"    return {result}"]) + "\n"


def _post_order(root: kir.Expr) -> tuple[list[kir.Expr], dict[int, int]]:
    """The nodes of a DAG, arguments before users, and how many users each has."""
    order, uses, stack = [], {id(root): 1}, [(root, False)]
    while stack:
        e, done = stack.pop()
        if done:
            order.append(e)
            continue
        stack.append((e, True))
        for a in reversed(operands(e)):
            uses[id(a)] = uses.get(id(a), 0) + 1
            if uses[id(a)] == 1:
                stack.append((a, False))
    return order, uses


def numba_signature(function: kir.Function) -> str:
    """The explicit Numba signature of a kernel entry."""
    types = []
    for p in function.params:
        if isinstance(p.value, kir.Var):
            types.append(NUMBA_TYPE[p.value.dtype])
        elif p.ndim == 0:
            types.append(f"numba.types.Array({NUMBA_TYPE[p.value.dtype]}, 0, 'C')")
        else:
            types.append(f"{NUMBA_TYPE[p.value.dtype]}[{', '.join([':'] * (p.ndim - 1) + ['::1'])}]")
    return "(" + ", ".join(types) + ("," if len(types) == 1 else "") + ")"


def constant_source(name: str, array: np.ndarray) -> str:
    """A module-level constant array, flat (symdiff's own values: repr round-trips them exactly)."""
    values = ", ".join(repr(v) if np.isfinite(v) else f"float({str(v)!r})" for v in array.ravel().tolist())
    return f"{name} = np.array([{values}], dtype=np.{array.dtype.name})  # constant {array.shape}, flat"
