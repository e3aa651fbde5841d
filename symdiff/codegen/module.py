"""One compiled function, generated: the schedule's sections as kernel IR (split into bounded parts), the Python
entry shared by both backends, and the Numba module text printed from the IR (what ``fn.source`` shows and
``sd.export`` writes)."""

from __future__ import annotations

import ast
import builtins
import keyword
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from symdiff.ir import Node

from . import kir
from .arrays import contiguous
from .context import Context
from .emit_loops import Body, emit_elementwise, emit_reduction, emit_rows
from .emit_ops import emit_copy, emit_index, emit_matmul, emit_product_update, emit_view
from .emit_scan import emit_scan
from .fastlib import NAMES as FAST_NAMES
from .kir_walks import free_names, walk
from .memory import plan_memory, workspace_offsets, workspace_regions, workspace_sizes
from .numba_print import fast_name
from .plan import is_inline_leaf, plan
from .printed import module_source
from .runtime import _OVERLAP_MESSAGE
from .scalar import MissingLoweringError
from .wide_sums import widen_sums
from .wrapper import wrapper_source

#: Statements per generated function: Numba's compile time grows superlinearly with function length, and LLVM's
#: optimizer with the length of one function.
PART_BUDGET = 400
_HERE = Path(__file__).parent
FASTMATH_FLAGS = ("contract", "afn", "arcp", "nsz")


def _top_level_names(path: Path) -> set[str]:
    """Names a prelude file defines in generated modules (read, not imported: importing blas.py binds BLAS)."""
    names = set()
    for statement in ast.parse(path.read_text()).body:
        if isinstance(statement, ast.FunctionDef | ast.ClassDef):
            names.add(statement.name)
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
        elif isinstance(statement, ast.Assign):
            names |= {n.id for target in statement.targets for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


_BUILTINS = frozenset(dir(builtins))
#: Module-level names of generated code (imports, fast functions, the pasted BLAS files, the builtins it calls):
#: inputs and the function may not shadow them.
_FAST = {fast_name(n, libm, dtype) for n in FAST_NAMES for libm in (False, True) for dtype in ("float64", "float32")}
RESERVED = frozenset({"np", "numba", "math", "llvmlite", *_FAST, *_BUILTINS}).union(
    *(_top_level_names(_HERE / name) for name in ("blas.py", "blas_gram.py", "runtime.py")))


@dataclass(frozen=True)
class GeneratedModule:
    """A compiled function's generated parts: ``kernel`` (the IR both backends lower), ``wrapper`` (the Python
    entry calling ``_kernel``; ``native_wrapper`` the same for the native entry, which checks byte order itself) and
    ``header`` (the module docstring). ``source`` is the whole Numba module."""

    name: str
    kernel: kir.Kernel
    wrapper: str
    native_wrapper: str
    header: str

    @property
    def source(self) -> str:
        return module_source(self.header, self.name, self.kernel, self.wrapper)


class CodegenError(RuntimeError):
    """A bug in symdiff's code generator; the message names the node being lowered."""


def check_names(inputs: list[Node]) -> None:
    """Input and dim names appear in the generated text as identifiers: each must be one (in NFKC normal form,
    as Python reads identifiers) and must not be a keyword, a builtin or a name of the generated module."""
    for node in inputs:
        problem = input_name_problem(node.name)
        if problem:
            raise ValueError(f"input name {node.name!r} cannot be compiled: {problem}; rename the tensor")
        for dim in node.shape:
            problem = _name_problem(dim) if isinstance(dim, str) else None
            if problem:
                raise ValueError(f"input {node.name!r}: named dim {dim!r} cannot be compiled: {problem}")


def input_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an input of a compiled function, or None when it can."""
    problem = _name_problem(name)
    if problem is None and name.startswith("_"):
        problem = "names starting with '_' are reserved for the generated code"
    elif problem is None and name in _BUILTINS:
        problem = "it is a Python builtin, which the generated code calls"
    elif problem is None and name in RESERVED:
        problem = "the generated module defines that name"
    return problem


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
             libm: bool = False, fastmath_flag: bool = False, fuse: bool = True) -> GeneratedModule:
    """The module for one compiled function (deterministic for a given graph)."""
    check_names(inputs)
    problem = _name_problem(name) or ("it is a builtin or a name of the generated module"
                                      if name in RESERVED else None)
    if problem:
        raise ValueError(f"compile: function name {name!r} cannot be used: {problem}")
    if name in {n.name for n in inputs}:  # the default name "fn" too: the user may not have chosen it
        raise ValueError(f"compile: input {name!r} has the function's name {name!r}; rename the tensor or pass "
                         "compile(..., name=...)")
    roots = widen_sums(outputs + [value for _, value in updates])
    outputs, updates = roots[:len(outputs)], [(t, v) for (t, _), v in zip(updates, roots[len(outputs):])]
    schedule = plan(outputs, updates, fuse)
    fresh: dict[int, int] = {}
    for k, node in enumerate(outputs):
        if id(node) not in schedule.output_copies and not is_inline_leaf(node) and id(node) in schedule.arrays:
            fresh.setdefault(id(node), k)
    ctx = Context(schedule, inputs, outputs, fresh, fuse)
    sections: list[list[kir.Stmt]] = []
    defined: list[list[Node]] = []
    reads: list[set[int]] = []
    stores = kir.Builder()  # by-value scalars read as arrays: stored in the workspace first
    for node in ctx.stored_scalars:
        stores.emit(ctx.refs[node].store([], ctx.scalar_param(node)))
    sections.append(stores.statements)
    defined.append(list(ctx.stored_scalars))
    reads.append(set())
    copied = written = False  # written: a parameter holds its new value (inplace.updates_in_targets)
    for section in schedule.sections + [None]:
        if not copied and (section is None or section.kind in ("update", "product_update")):
            # outputs are copied before any parameter is written: they hold the values before the step
            out = kir.Builder()
            reads.append(_output_copies(ctx, schedule, outputs, fresh, out))
            sections.append(out.statements)
            defined.append([])
            copied = True
        if section is None:
            break
        out = kir.Builder()
        placed = len(ctx.nested_arrays)
        try:
            ids = _emit_section(ctx, section, out)
        except MissingLoweringError:
            raise  # not a bug of the generator: an op that compiled kernels cannot run, named
        except Exception as exc:
            raise CodegenError(f"internal error in the code generator while lowering {_describe(section)}: "
                               f"{type(exc).__name__}: {exc}") from exc
        if ids is None:
            continue  # a view: index arithmetic only; the base's lifetime covers the view
        if written and any(isinstance(s, kir.Raise) for s in walk(out.statements)):
            raise CodegenError(f"internal error: {_describe(section)} may raise after a parameter was written")
        written = written or any(id(n) in schedule.stored_in_targets or id(n) in schedule.inplace_updates
                                 for n in section.nodes)
        sections.append(out.statements)
        defined.append([] if section.kind in ("update", "view") else
                       [n for n in section.nodes if n in ctx.refs] + ctx.nested_arrays[placed:])
        reads.append(ids)
    finals = kir.Builder()
    final_reads = _update_copies(ctx, schedule, finals)
    sections.append(finals.statements)
    memory = plan_memory(ctx, defined, reads, final_reads)
    kernel = _kernel(ctx, sections, memory, outputs, libm, fastmath_flag)
    wrappers = [wrapper_source(ctx, name, outputs, updates, workspace_sizes(ctx, memory), numba)
                for numba in (True, False)]
    products = any(isinstance(s, kir.Gemm | kir.Gram) for f in kernel.functions for s in walk(f.body))
    return GeneratedModule(name, kernel, *wrappers, _docstring(name, inputs, outputs, updates, products))


def _docstring(name: str, inputs: list[Node], outputs: list[Node], updates: list[tuple[Node, Node]],
               products: bool) -> str:
    """The module's docstring: what the function takes, returns and updates (names are checked identifiers);
    ``products``: the kernel calls BLAS."""
    from symdiff._version import __version__

    needs = "numpy and numba" + (" (scipy for BLAS only when NumPy bundles none)" if products else "")
    targets = {id(t) for t, _ in updates}
    lines = [f"{name}: a function compiled by symdiff {__version__}.", "", f"Standalone: needs {needs}.", "",
             "Inputs (those updated in place get new values computed from the values before the call):" if updates
             else "Inputs:"]
    lines += [f"    {n.name}: {n.dtype} {n.shape}{', updated in place' if id(n) in targets else ''}" for n in inputs]
    lines += ["Outputs:" if outputs else "Outputs: none."]
    lines += [f"    [{k}] {n.dtype} {n.shape}" for k, n in enumerate(outputs)]
    return "\n".join(lines)


def _emit_section(ctx: Context, section, out: kir.Builder) -> set[int] | None:
    """Build ``section``'s IR into ``out``; the ids of the arrays it reads (None for a view: no code)."""
    if section.kind == "view":
        return emit_view(ctx, section.nodes[0], out)
    if section.kind in ("elementwise", "update"):
        return emit_elementwise(ctx, section, out)
    if section.kind == "reduction":
        return emit_reduction(ctx, section, out)
    if section.kind == "rows":
        return emit_rows(ctx, section, out)
    if section.kind == "matmul":
        return emit_matmul(ctx, section.nodes[0], out)
    if section.kind == "product_update":
        return emit_product_update(ctx, section, out)
    if section.kind == "loop":
        return emit_scan(ctx, section, out, _emit_section)
    return emit_index(ctx, section.nodes[0], out)


def _describe(section) -> str:
    """The nodes of a section with their ops, shapes, dtypes and input shapes (for error messages)."""
    nodes = "; ".join(f"{n.op} -> {n.shape} {n.dtype} from {[i.shape for i in n.inputs]} (attrs {dict(n.attrs)})"
                      for n in section.nodes[:4])
    return f"a {section.kind} section: {nodes}{' ...' if len(section.nodes) > 4 else ''}"


def _update_copies(ctx: Context, schedule, out: kir.Builder) -> set[int]:
    """Copies after the last section: updates that could not be written in place."""
    reads: set[int] = set()
    for target, value in schedule.copied_updates:
        out.emit(kir.Comment(f"update {target.name} <- {ctx.describe(value)}"))
        reads |= emit_copy(ctx, value, ctx.refs[target], out)
    return reads


def _output_copies(ctx: Context, schedule, outputs: list[Node], fresh: dict[int, int], out: kir.Builder) -> set[int]:
    """Every output not computed straight into its own buffer: copied there (views, inputs, constants, an output
    listed twice) or filled (element counts, one-element constants, by-value scalars). Returns what it reads."""
    reads: set[int] = set()
    for k, node in enumerate(outputs):
        if fresh.get(id(node)) == k:
            continue
        target = contiguous(ctx.outputs[k], kir.index(0), ctx.shape_expr(node.shape))
        if ctx.is_scalar_input(node) or is_inline_leaf(node) and id(node) not in schedule.arrays:
            value = Body(ctx, (), [], out).expr(node)
            p = kir.Var("_p", "int64")
            with out.loop(p, kir.index(0), ctx.size_expr(node.shape)):
                out.emit(kir.Store(target.buffer, p, value))
            continue
        out.emit(kir.Comment(f"returned copy of {ctx.describe(node)}"))
        reads |= emit_copy(ctx, node, target, out)
    return reads


def _kernel(ctx: Context, sections: list[list[kir.Stmt]], memory, outputs: list[Node], libm: bool,
            fastmath_flag: bool) -> kir.Kernel:
    params = []
    for node in ctx.inputs:
        if ctx.is_scalar_input(node):
            params.append(kir.Param(ctx.scalar_param(node)))
        else:
            flat = ctx.flat[id(node)]
            params.append(kir.Param(flat, node.ndim, id(node) in {id(t) for t in ctx.plan.update_targets},
                                    node.name if flat.name != node.name else ""))
    params += [kir.Param(ctx.workspace(dtype), written=True) for dtype in memory.slots]
    params += [kir.Param(var) for var in ctx.dims.values()]
    params += [kir.Param(array, written=True) for array in ctx.outputs]
    prologue = _overlap_checks(ctx) + workspace_offsets(ctx, memory)
    constants = {ctx.refs[n].buffer.name: n.attr("value").array for n in ctx.plan.order
                 if n.op == "constant" and id(n) in ctx.plan.arrays}
    constants.update((ctx.refs[n].buffer.name, n.attr("value").array) for n in ctx.nested_constants)
    parts, body = _split(sections, set(constants))
    entry = kir.Function("_kernel", params, prologue + body, "Forward, backward and updates in one call.")
    return kir.Kernel([entry] + parts, constants, FASTMATH_FLAGS if fastmath_flag else (), libm,
                      regions=workspace_regions(ctx, memory))


def _overlap_checks(ctx: Context) -> list[kir.Stmt]:
    """Refuse arguments that share memory with an array the kernel updates in place (it would read values it has
    already overwritten): one check over all array arguments."""
    nodes = [n for n in ctx.inputs if id(n) in ctx.flat]
    targets = {id(t) for t in ctx.plan.update_targets}
    if not any(id(n) in targets for n in nodes) or len(nodes) < 2:
        return []
    test = kir.Disjoint(tuple(ctx.flat[id(n)] for n in nodes), tuple(ctx.size_expr(n.shape) for n in nodes),
                        tuple(id(n) in targets for n in nodes))
    return [kir.If(kir.op("not", test), (kir.Raise("ValueError", _OVERLAP_MESSAGE),))]


def _split(sections: list[list[kir.Stmt]], constants: set[str]) -> tuple[list[kir.Function], list[kir.Stmt]]:
    """Pack sections into part functions of at most PART_BUDGET statements (inline when it all fits)."""
    sizes = [len(walk(s)) for s in sections]
    if sum(sizes) <= PART_BUDGET:
        return [], [statement for section in sections for statement in section]
    groups, current, size = [], [], 0
    for section, n in zip(sections, sizes):
        if current and size + n > PART_BUDGET:
            groups.append(current)
            current, size = [], 0
        current += section
        size += n
    groups.append(current)
    parts, calls = [], []
    for k, statements in enumerate(groups):
        arrays, free = free_names(statements)
        args = [*sorted((a for name, a in arrays.items() if name not in constants), key=lambda a: a.name),
                *sorted(free.values(), key=lambda v: v.name)]
        name = f"_part{k}"
        parts.append(kir.Function(name, [kir.Param(a, written=True) if isinstance(a, kir.Array) else kir.Param(a)
                                         for a in args], statements))
        calls.append(kir.CallPart(name, tuple(args)))
    return parts, calls

