"""Assemble the generated module: prelude, constants, kernel (split into bounded parts), wrapper."""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from symdiff.ir import Node

from .arrays import contiguous
from .context import NUMPY_TYPE, Context
from .emit_loops import Body, emit_elementwise, emit_reduction, emit_rows
from .emit_ops import emit_copy, emit_index, emit_matmul, emit_view
from .fastmath_ir import FUNCTIONS
from .memory import plan_memory, workspace_lines, workspace_sizes
from .plan import is_inline_leaf, plan
from .wrapper import wrapper_source

#: Statements per generated function: Numba's compile time grows superlinearly with function length.
PART_BUDGET = 400
_HERE = Path(__file__).parent


def _top_level_names(path: Path) -> set[str]:
    """Names a prelude file defines in generated modules (read, not imported: importing blas.py binds BLAS)."""
    names = set()
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, (ast.FunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
        elif isinstance(statement, ast.Assign):
            names |= {n.id for target in statement.targets for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names

_MATH_NAMES = ("exp", "log", "tanh", "sigmoid", "softplus", "log1p", "expm1")
_BUILTINS = frozenset(dir(builtins))
#: Module-level names of generated code (helpers, the pasted prelude files, the builtins it calls): inputs may
#: not shadow them.
RESERVED = frozenset({"sqrt", "sin", "cos", "sign", "maximum", "minimum", "_ix", *_MATH_NAMES, *_BUILTINS}).union(
    *(_top_level_names(_HERE / name)
      for name in ("fastmath_ir.py", "fastmath.py", "blas_symbols.py", "blas.py", "runtime.py")))

_HELPERS = '''
_ix = numba.uintp  # unsigned array indices: no wraparound branch, so loops vectorize

@numba.njit(inline="always")
def maximum(a, b):
    return a if a > b or a != a else b


@numba.njit(inline="always")
def minimum(a, b):
    return a if a < b or a != a else b


@numba.njit(inline="always")
def sign(a):
    return a if a != a else (a > 0) - (a < 0)  # NumPy's: +-1 also for +-inf, nan stays nan


@numba.njit(inline="always")
def _overlap(a, na, b, nb):
    """Whether the first ``na`` and ``nb`` elements of flat arrays ``a`` and ``b`` share memory."""
    a0, b0 = a.ctypes.data, b.ctypes.data
    return na > 0 and nb > 0 and a0 < b0 + nb * b.itemsize and b0 < a0 + na * a.itemsize


sqrt = math.sqrt
sin = math.sin
cos = math.cos
'''


def _pasted(*names: str) -> str:
    """Prelude files as generated modules carry them: one namespace, so their relative imports are dropped."""
    texts = ["\n".join(line for line in (_HERE / name).read_text().splitlines() if not line.startswith("from ."))
             for name in names]
    return "\n\n".join(texts) + "\n"


def fastmath_source() -> str:
    """fastmath_ir.py then fastmath.py, as generated modules carry them."""
    return _pasted("fastmath_ir.py", "fastmath.py")


def prelude(gemm: bool) -> str:
    """Shared text of every module: fast transcendentals, runtime checks, BLAS when the graph has products."""
    text = [fastmath_source(), (_HERE / "runtime.py").read_text()]
    if gemm:  # only graphs with matrix products pay for binding BLAS
        text.append(_pasted("blas_symbols.py", "blas.py"))
    return "\n\n".join(t.strip("\n") for t in text) + "\n"


def helpers(libm: bool) -> str:
    """Small functions the kernels call by name: nan-aware max/min, sign, the math functions (fast or libm)."""
    aliases = []
    for name in _MATH_NAMES:
        fast, template = FUNCTIONS[name]
        if libm:
            aliases += ["@numba.njit(inline='always')", f"def {name}(x):", f"    return {template.format('x')}", ""]
        else:
            aliases.append(f"{name} = {fast}")
    return _HELPERS.strip("\n") + "\n\n" + "\n".join(aliases).strip("\n") + "\n"


@dataclass(frozen=True)
class GeneratedModule:
    """The generated module in its parts; ``source`` is the whole text (what export writes).

    ``helpers``, ``constants`` and ``kernel`` hold the compute side (readable by the native backend without
    importing them), ``wrapper`` the pure-Python entry point that checks arguments and calls ``_kernel``.
    """

    header: str
    prelude: str
    helpers: str
    constants: str
    kernel: str
    wrapper: str

    @property
    def source(self) -> str:
        parts = [self.header + self.prelude.rstrip(), self.helpers.rstrip(), self.constants, self.kernel,
                 self.wrapper]
        return "\n\n".join(filter(None, parts)) + "\n"


def check_names(inputs: list[Node]) -> None:
    """Input and dim names appear in the generated text as identifiers: each must be one (in NFKC normal form,
    as Python reads identifiers) and must not be a keyword, a builtin or a name of the generated module."""
    for node in inputs:
        problem = _name_problem(node.name)
        if problem is None and node.name.startswith("_"):
            problem = "names starting with '_' are reserved for the generated code"
        elif problem is None and node.name in _BUILTINS:
            problem = "it is a Python builtin, which the generated code calls"
        elif problem is None and node.name in RESERVED:
            problem = "the generated module defines that name"
        if problem:
            raise ValueError(f"input name {node.name!r} cannot be compiled: {problem}; rename the tensor")
        for dim in node.shape:
            problem = _name_problem(dim) if isinstance(dim, str) else None
            if problem:
                raise ValueError(f"input {node.name!r}: named dim {dim!r} cannot be compiled: {problem}")


def _name_problem(name: str) -> str | None:
    if not name.isidentifier():
        return "it is not a Python identifier"
    if keyword.iskeyword(name):
        return "it is a Python keyword"
    normal = unicodedata.normalize("NFKC", name)
    if normal != name:
        return f"Python reads it as {normal!r} (NFKC normalisation); use that spelling"
    return None


def generate(inputs: list[Node], outputs: list[Node], updates: list[tuple[Node, Node]], *, name: str,
             libm: bool = False, fastmath_flag: bool = False, fuse: bool = True, header: str = "") -> GeneratedModule:
    """The module for one compiled function (deterministic for a given graph)."""
    check_names(inputs)
    problem = _name_problem(name) or ("it is a builtin or a name of the generated module"
                                      if name in RESERVED or name in {n.name for n in inputs} else None)
    if problem:
        raise ValueError(f"compile: function name {name!r} cannot be used: {problem}")
    schedule = plan(outputs, updates, fuse)
    fresh = {id(n) for n in outputs if id(n) not in schedule.output_copies}
    ctx = Context(schedule, inputs, fresh)
    constants = [_constant_source(ctx.refs[id(n)].buffer, n) for n in schedule.order
                 if n.op == "constant" and id(n) in schedule.arrays]
    # by-value scalars read as arrays: stored in the workspace first
    bodies = [[f"    {ctx.refs[id(n)].element([])} = {ctx.param(n)}  # {ctx.describe(n)} as an array"
               for n in ctx.stored_scalars]]
    defined, reads = [ctx.stored_scalars], [set()]
    returned = None
    for section in schedule.sections + [None]:
        if returned is None and (section is None or section.kind == "update"):
            # outputs are copied before any parameter is written: they hold the values before the step
            allocations, copies, copy_reads, returned = _output_copies(ctx, schedule, outputs)
            bodies.append(copies)
            defined.append([])
            reads.append(copy_reads)
        if section is None:
            break
        lines: list[str] = []
        try:
            ids = _emit_section(ctx, section, lines)
        except Exception as exc:
            raise CodegenError(f"internal error in the code generator while lowering {_describe(section)}: "
                               f"{type(exc).__name__}: {exc}") from exc
        if ids is None:
            continue  # a view: index arithmetic only; the base's lifetime covers the view
        bodies.append(lines)
        defined.append([] if section.kind in ("update", "view") else list(section.nodes))
        reads.append(ids)
    finals, final_reads = _update_copies(ctx, schedule)
    memory = plan_memory(ctx, defined, reads, final_reads, fresh)
    kernel = _kernel_source(ctx, bodies, finals, memory, allocations, returned, fastmath_flag)
    sizes = workspace_sizes(ctx, memory)
    return GeneratedModule(header, prelude(any(n.op == "matmul" for n in schedule.order)), helpers(libm),
                           "\n".join(constants), kernel, wrapper_source(ctx, name, outputs, updates, sizes))


class CodegenError(RuntimeError):
    """A bug in symdiff's code generator; the message names the node being lowered."""


def _emit_section(ctx: Context, section, lines: list[str]) -> set[int] | None:
    """Append ``section``'s code to ``lines``; the ids of the arrays it reads (None for a view: no code)."""
    if section.kind == "view":
        return emit_view(ctx, section.nodes[0], lines)
    if section.kind in ("elementwise", "update"):
        return emit_elementwise(ctx, section, lines)
    if section.kind == "reduction":
        return emit_reduction(ctx, section, lines)
    if section.kind == "rows":
        return emit_rows(ctx, section, lines)
    if section.kind == "matmul":
        return emit_matmul(ctx, section.nodes[0], lines)
    return emit_index(ctx, section.nodes[0], lines)


def _describe(section) -> str:
    """The nodes of a section with their ops, shapes, dtypes and input shapes (for error messages)."""
    nodes = "; ".join(f"{n.op} -> {n.shape} {n.dtype} from {[i.shape for i in n.inputs]} (attrs {dict(n.attrs)})"
                      for n in section.nodes[:4])
    return f"a {section.kind} section: {nodes}{' ...' if len(section.nodes) > 4 else ''}"


def _constant_source(var: str, node: Node) -> str:
    array = node.attr("value").array
    values = ", ".join(repr(v) if np.isfinite(v) else f"float({str(v)!r})" for v in array.ravel().tolist())
    return f"{var} = np.array([{values}], dtype=np.{array.dtype.name})  # constant {array.shape}, flat"


def _update_copies(ctx: Context, schedule) -> tuple[list[str], set[int]]:
    """Copies after the last section: updates that could not be written in place."""
    lines, final_reads = [], set()
    for target, value in schedule.copied_updates:
        lines.append(f"    # update {target.name} <- {ctx.describe(value)}")
        final_reads |= emit_copy(ctx, value, ctx.refs[id(target)].flat, lines)
    return lines, final_reads


def _output_copies(ctx: Context, schedule, outputs: list[Node]):
    """Copies of outputs that are views or inputs (returned arrays own their memory): the allocations (kernel
    prologue), the copy loops, the arrays they read, and the expression returning each output."""
    allocations, lines, final_reads = [], [], set()
    returned = {}
    for k, node in enumerate(outputs):
        if ctx.is_scalar_input(node):
            returned[id(node)] = ctx.param(node)
            continue
        if is_inline_leaf(node):  # a one-element constant or an element count: no array behind it
            value = Body(ctx, (), [], lines, "    ").expr(node)
            returned[id(node)] = value if node.shape == () else f"np.full({ctx.tuple_expr(node.shape)}, {value})"
            continue
        if id(node) in schedule.output_copies:
            buffer = f"_out{k}"
            allocations.append(f"    {buffer} = np.empty({ctx.size_expr(node.shape)}, {NUMPY_TYPE[node.dtype]})"
                               f"  # returned copy of {ctx.describe(node)}")
            final_reads |= emit_copy(ctx, node, contiguous(buffer, "0", ()).flat, lines)
        else:
            buffer = ctx.refs[id(node)].buffer
        returned[id(node)] = f"{buffer}[0]" if node.shape == () else f"{buffer}.reshape({ctx.tuple_expr(node.shape)})"
    return allocations, lines, final_reads, [returned[id(n)] for n in outputs]


def _kernel_source(ctx, bodies, finals, memory, allocations, returns, fastmath_flag) -> str:
    params = [ctx.param(n) for n in ctx.inputs] + [f"_ws_{dtype}" for dtype in memory.slots]
    # The fast functions keep their own flags whatever the kernel's; this subset leaves the kernel's
    # nan checks (maximum/minimum) in place while allowing FMA contraction and reciprocals.
    fast = "{'contract', 'afn', 'arcp', 'nsz'}" if fastmath_flag else "False"
    flags = f"cache=True, nogil=True, error_model='numpy', fastmath={fast}"  # nogil: threads run calls at once
    prologue = [f"    {var} = {ctx.dim_source(d)}  # named dim {d!r}" for d, var in ctx.dims.items()]
    prologue += [f"    _f{k} = {ctx.param(n)}.reshape({ctx.size_expr(n.shape)})  # flat alias of {n.name}"
                 for k, n in enumerate(ctx.inputs) if not ctx.is_scalar_input(n)]
    prologue += _overlap_checks(ctx)
    prologue += workspace_lines(ctx, memory) + allocations
    parts, calls = _split(ctx, bodies, flags, {line.split()[0] for line in allocations})
    types = [_numba_type(n, ctx.is_scalar_input(n)) for n in ctx.inputs]
    types += [f"numba.{'boolean' if d == 'bool' else d}[::1]" for d in memory.slots]
    signature = "(" + ", ".join(types) + ("," if len(types) == 1 else "") + ")"
    kernel = [f"@numba.njit({signature}, {flags})", f"def _kernel({', '.join(params)}):",
              '    """Forward, backward and updates in one call (generated by symdiff)."""']
    kernel += prologue + calls + finals + [f"    return ({', '.join(returns)}{',' if len(returns) == 1 else ''})"]
    return "\n\n\n".join(parts + ["\n".join(kernel)])


def _overlap_checks(ctx: Context) -> list[str]:
    """Refuse arguments that share memory with an array the kernel updates in place (it would read values
    it has already overwritten)."""
    arrays = [(k, n) for k, n in enumerate(ctx.inputs) if not ctx.is_scalar_input(n)]
    targets = {id(t) for t in ctx.plan.update_targets}
    lines = []
    for i, (k, node) in enumerate(arrays):
        for m, other in arrays[:i] + arrays[i + 1:]:
            if id(node) not in targets or id(other) in targets and m < k:
                continue  # each pair once, from the updated side
            message = (f"arguments {other.name!r} and {node.name!r} share memory, but {node.name!r} is updated "
                       "in place; pass separate arrays (e.g. a .copy())")
            sizes = ctx.size_expr(node.shape), ctx.size_expr(other.shape)
            lines += [f"    if _overlap(_f{k}, {sizes[0]}, _f{m}, {sizes[1]}):",
                      f"        raise ValueError({message!r})"]
    return lines


def _numba_type(node: Node, by_value: bool) -> str:
    base = "numba.boolean" if node.dtype == "bool" else f"numba.{node.dtype}"
    if by_value:
        return base
    if node.shape == ():  # a 0-d array updated in place
        return f"numba.types.Array({base}, 0, 'C')"
    return f"{base}[{', '.join([':'] * (node.ndim - 1) + ['::1'])}]"


def _split(ctx: Context, bodies: list[list[str]], flags: str, arrays: set[str]) -> tuple[list[str], list[str]]:
    """Pack sections into helper functions of at most PART_BUDGET lines (inline when it all fits)."""
    total = sum(len(b) for b in bodies)
    if total <= PART_BUDGET:
        return [], [line for body in bodies for line in body]
    groups, current = [], []
    for body in bodies:
        if current and sum(len(b) for b in current) + len(body) > PART_BUDGET:
            groups.append(current)
            current = []
        current.append(body)
    groups.append(current)
    known = {r.buffer for r in ctx.refs.values()} | {r.offset for r in ctx.refs.values()}
    known |= set(ctx.dims.values()) | arrays
    known |= {ctx.param(n) for n in ctx.inputs if ctx.is_scalar_input(n)}
    parts, calls = [], []
    for k, group in enumerate(groups):
        lines = [line for body in group for line in body]
        used = sorted({t for line in lines for t in re.findall(r"[A-Za-z_]\w*", line.split("#")[0])} & known)
        used = [u for u in used if not u.startswith("_k")]  # module constants are globals
        parts.append("\n".join([f"@numba.njit({flags})", f"def _part{k}({', '.join(used)}):"] + lines))
        calls.append(f"    _part{k}({', '.join(used)})")
    return parts, calls
