"""The kernel IR: what the schedule becomes, and what both lowerings read (LLVM in process, Numba source text).

A kernel is a few functions over flat arrays: loops over extents, scalar lets, loads and stores at integer index
expressions, calls of scalar math functions, matrix products, raises. Every value carries its dtype, and every
operation takes operands of one dtype (the builders below insert the casts), so neither lowering re-derives a
type: the LLVM lowering maps each node to instructions, the Numba printer writes each node with explicit types
and Numba infers exactly the IR's types back.

Expressions are immutable trees or DAGs (``Const``, ``Var``, ``Load``, ``Op``, ``Cast``, ``Bitcast``, ``Call``,
``Disjoint``;
compared by identity, so walking a DAG never hashes it recursively);
statements are ``Let`` (assign a scalar variable), ``Store``, ``For``, ``If``, ``Raise``, ``Gemm``, ``Gram``,
``CallPart`` and ``Comment``. Build expressions with the functions at the end of this module (``add``, ``mul``,
``select``, ...): they check dtypes and fold integer index arithmetic, so printed kernels read like hand-written ones.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

#: Scalar dtypes of the IR; ``uint64`` serves the random-number mixer.
FLOATS = ("float32", "float64")
INTEGERS = ("int32", "int64", "uint64")
DTYPES = FLOATS + INTEGERS + ("bool",)

#: Op name -> (operand kind, result): "float"/"int"/"number"/"bool"/"any" operands of one dtype; result "same" or
#: "bool". Comparisons follow Python: false when either side is nan, except "ne".
OPS = {
    "add": ("number", "same"), "sub": ("number", "same"), "mul": ("number", "same"), "div": ("float", "same"),
    "pow": ("float", "same"), "neg": ("number", "same"), "abs": ("number", "same"),
    "max": ("number", "same"), "min": ("number", "same"),  # NumPy's maximum/minimum: a nan operand wins
    "sign": ("float", "same"),  # NumPy's sign: +-1 also for +-inf, +0.0 for +-0, nan stays nan
    "lt": ("any", "bool"), "le": ("any", "bool"), "gt": ("any", "bool"), "ge": ("any", "bool"),
    "eq": ("any", "bool"), "ne": ("any", "bool"),
    "and": ("bool", "same"), "or": ("bool", "same"), "not": ("bool", "same"),
    "bitand": ("int", "same"), "xor": ("int", "same"), "shl": ("int", "same"),
    "shr": ("int", "same"),  # arithmetic for signed, logical for uint64
    "idiv": ("int", "same"),  # quotient of nonnegative integers (index arithmetic)
    "select": ("select", "same"),  # (condition, if true, if false)
    "fmuladd": ("float", "same"),  # a * b + c, fused where the CPU can (polynomials, small products' sums)
}
#: Arithmetic on bools as NumPy computes it: a sum is "or", a product "and", abs the value itself (None).
_ON_BOOLS = {"add": "or", "max": "or", "mul": "and", "min": "and", "abs": None}


class Expr:
    """A scalar value of ``dtype``."""

    __slots__ = ()
    dtype: str


@dataclass(frozen=True, slots=True, eq=False)
class Const(Expr):
    value: bool | int | float
    dtype: str


@dataclass(frozen=True, slots=True, eq=False)
class Var(Expr):
    """A scalar variable: a local, a loop index, a scalar parameter or a named dim."""

    name: str
    dtype: str


@dataclass(frozen=True, slots=True)
class Array:
    """A flat buffer: a parameter (an input, a workspace, a returned array) or a module constant."""

    name: str
    dtype: str


@dataclass(frozen=True, slots=True, eq=False)
class Load(Expr):
    array: Array
    index: Expr

    @property
    def dtype(self) -> str:
        return self.array.dtype


@dataclass(frozen=True, slots=True, eq=False)
class Op(Expr):
    op: str
    args: tuple[Expr, ...]
    dtype: str


@dataclass(frozen=True, slots=True, eq=False)
class Cast(Expr):
    """Value conversion (C casts; to bool: ``!= 0``)."""

    value: Expr
    dtype: str


@dataclass(frozen=True, slots=True, eq=False)
class Bitcast(Expr):
    """The same bits read as another dtype of the same width (float64 <-> int64)."""

    value: Expr
    dtype: str


@dataclass(frozen=True, slots=True, eq=False)
class Call(Expr):
    """A scalar math function of the function table (symdiff.ops.functions), or a fast function's body."""

    function: str
    args: tuple[Expr, ...]
    dtype: str


@dataclass(frozen=True, slots=True, eq=False)
class Disjoint(Expr):
    """True when no ``written`` array shares memory with any other (array ``k`` spans ``sizes[k]`` elements)."""

    arrays: tuple[Array, ...]
    sizes: tuple[Expr, ...]
    written: tuple[bool, ...]
    dtype: str = "bool"


class Stmt:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Let(Stmt):
    """``var = value`` (a variable may be assigned many times, always with its one dtype)."""

    var: Var
    value: Expr
    note: str = ""  # printed as a comment (the graph node it computes)


@dataclass(frozen=True, slots=True)
class Store(Stmt):
    array: Array
    index: Expr
    value: Expr


@dataclass(frozen=True, slots=True)
class For(Stmt):
    """``for var in range(start, stop)``; ``lanes`` > 1: the LLVM lowering runs that many iterations at once on
    SIMD vectors (``stop - start`` must be a multiple of ``lanes``), the Numba printer a plain loop. ``threads``:
    the iterations are independent (each writes its own elements, and reads what the loop writes only there), so
    the LLVM lowering may run chunks of them on threads, with the loops enclosing this one (llvm/threads.py)."""

    var: Var
    start: Expr
    stop: Expr
    body: tuple[Stmt, ...]
    lanes: int = 1
    threads: bool = False


@dataclass(frozen=True, slots=True)
class If(Stmt):
    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] = ()


@dataclass(frozen=True, slots=True)
class Raise(Stmt):
    """Stop the kernel with ``exception`` ("IndexError" or "ValueError") and ``message``."""

    exception: str
    message: str


@dataclass(frozen=True, slots=True)
class Gemm(Stmt):
    """``c[co:] = A @ B`` for row/column-strided matrices at offsets (blas.py's gemm: BLAS or a loop nest)."""

    a: Array
    a_offset: Expr
    a_strides: tuple[Expr, Expr]
    b: Array
    b_offset: Expr
    b_strides: tuple[Expr, Expr]
    c: Array
    c_offset: Expr
    m: Expr
    k: Expr
    n: Expr


@dataclass(frozen=True, slots=True)
class GemmUpdate(Stmt):
    """``c[co:] += alpha * (A @ B)`` for ``product``'s operands and C, by one BLAS call with beta = 1 when BLAS takes
    it (no product array, no pass over C: an SGD step's ``W - lr * (Xᵀ @ G)``), else ``fallback`` (the product into
    its array, then the update loop)."""

    product: Gemm
    alpha: Expr
    fallback: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class Gram(Stmt):
    """``c[co:] = Bᵀ @ B`` (n x n, symmetric) for the row/column-strided k x n matrix B at an offset (blas_gram.py's
    gram: one triangle by BLAS ``?syrk``, mirrored; or ``gemm``)."""

    b: Array
    b_offset: Expr
    b_strides: tuple[Expr, Expr]
    c: Array
    c_offset: Expr
    k: Expr
    n: Expr


@dataclass(frozen=True, slots=True)
class CallPart(Stmt):
    """Call the kernel's function ``name`` with ``args`` (arrays and scalars, in its parameter order)."""

    name: str
    args: tuple[Array | Expr, ...]


@dataclass(frozen=True, slots=True)
class Comment(Stmt):
    text: str


@dataclass(frozen=True, slots=True)
class Param:
    """A function parameter: an array (``ndim`` as the caller passes it; ``written`` if stored into) or a scalar.
    ``argument``: the caller's name for an array passed with ``ndim`` != 1 (the body reads it flat as ``value``)."""

    value: Array | Var
    ndim: int = 1
    written: bool = False
    argument: str = ""

    @property
    def name(self) -> str:
        return self.value.name


@dataclass
class Function:
    name: str
    params: list[Param]
    body: list[Stmt]
    doc: str = ""


@dataclass
class Kernel:
    """A compiled function's compute side: ``functions[0]`` is the entry, the others its parts.

    ``constants`` are module-level arrays (read only); ``fastmath`` the LLVM fast-math flags of the arithmetic;
    ``libm``: math functions call the C library rather than symdiff's fast functions (the table's ``libm`` route).
    ``distinct``: the caller never passes arrays that share memory (it allocates every written one), so the LLVM
    lowering may say so (``noalias``), sparing its loop passes a dependence analysis of every access pair.
    ``regions``: workspace offset variable -> (dtype, slot): an access at an index built on one such variable stays
    within that slot of the dtype's workspace, and slots are disjoint, so the LLVM lowering tells LLVM that accesses
    of different slots never alias, nor the workspaces any argument (a fused loop reading and writing a dozen
    intermediates of one workspace buffer is then vectorized without a runtime overlap check per pair, which LLVM
    gives up on past eight).
    """

    functions: list[Function]
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    fastmath: tuple[str, ...] = ()
    libm: bool = False
    distinct: bool = False
    regions: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def entry(self) -> Function:
        return self.functions[0]


# ---------------------------------------------------------------- typed builders
def const(value: bool | int | float, dtype: str) -> Const:
    if dtype == "bool":
        return Const(bool(value), dtype)
    if dtype in INTEGERS:
        return Const(int(value), dtype)
    return Const(float(np.dtype(dtype).type(value)), dtype)


def cast(value: Expr, dtype: str) -> Expr:
    if value.dtype == dtype:
        return value
    if isinstance(value, Const):
        return const(value.value if dtype != "bool" else value.value != 0, dtype)
    return Cast(value, dtype)


def _kind_ok(kind: str, dtype: str) -> bool:
    return {"number": dtype != "bool", "float": dtype in FLOATS, "int": dtype in INTEGERS,
            "bool": dtype == "bool", "any": True}[kind]


def op(name: str, *args: Expr) -> Expr:
    """The typed operation ``name`` on ``args`` (select: condition first); operands must share one dtype."""
    kind, result = OPS[name]
    values = args[1:] if kind == "select" else args
    dtype = values[0].dtype
    if any(a.dtype != dtype for a in values) or kind == "select" and args[0].dtype != "bool":
        raise TypeError(f"kernel IR: {name} of {[a.dtype for a in args]}: operands must share one dtype")
    if dtype == "bool" and name in _ON_BOOLS:  # NumPy's bool arithmetic (bool - bool is refused by the graph)
        return op(_ON_BOOLS[name], *args) if _ON_BOOLS[name] else args[0]
    if kind != "select" and not _kind_ok(kind, dtype):
        raise TypeError(f"kernel IR: {name} does not take {dtype} operands")
    return Op(name, tuple(args), "bool" if result == "bool" else dtype)


def _is(value: Expr, number: int) -> bool:
    return isinstance(value, Const) and value.value == number


def add(a: Expr, b: Expr) -> Expr:
    """``a + b``; integer zeros and constants fold (index arithmetic stays readable)."""
    if a.dtype in INTEGERS:
        if _is(a, 0):
            return b
        if _is(b, 0):
            return a
        if isinstance(a, Const) and isinstance(b, Const):
            return const(a.value + b.value, a.dtype)
    return op("add", a, b)


def mul(a: Expr, b: Expr) -> Expr:
    """``a * b``; integer zeros, ones and constants fold."""
    if a.dtype in INTEGERS:
        if _is(a, 0) or _is(b, 1):
            return a
        if _is(b, 0) or _is(a, 1):
            return b
        if isinstance(a, Const) and isinstance(b, Const):
            return const(a.value * b.value, a.dtype)
    return op("mul", a, b)


def index(value: int | Expr) -> Expr:
    """An int64 index expression."""
    return const(value, "int64") if isinstance(value, int) else cast(value, "int64")


def total(*terms: Expr) -> Expr:
    """The sum of int64 index terms."""
    out = index(0)
    for term in terms:
        out = add(out, term)
    return out


def product(*factors: Expr) -> Expr:
    """The product of int64 index factors."""
    out = index(1)
    for factor in factors:
        out = mul(out, factor)
    return out


def select(test: Expr, yes: Expr, no: Expr) -> Expr:
    return op("select", test, yes, no)


def call(function: str, *args: Expr, dtype: str | None = None) -> Call:
    return Call(function, tuple(args), dtype or args[0].dtype)


class Builder:
    """Collects statements; ``loop`` and ``when`` open nested blocks as context managers::

        with builder.loop(i, index(0), n):
            builder.emit(Store(out, i, value))
    """

    def __init__(self) -> None:
        self._blocks: list[list[Stmt]] = [[]]

    def emit(self, *statements: Stmt) -> None:
        self._blocks[-1].extend(statements)

    @contextlib.contextmanager
    def loop(self, var: Var, start: Expr, stop: Expr, lanes: int = 1, threads: bool = False):
        self._blocks.append([])
        yield
        body = self._blocks.pop()
        self.emit(For(var, start, stop, tuple(body), lanes, threads))

    @contextlib.contextmanager
    def when(self, test: Expr):
        self._blocks.append([])
        yield
        body = self._blocks.pop()
        self.emit(If(test, tuple(body)))

    @property
    def statements(self) -> list[Stmt]:
        if len(self._blocks) != 1:
            raise RuntimeError("kernel IR builder: a block is still open")
        return self._blocks[0]
