"""Assemble the generated module: prelude, constants, kernel (split into bounded parts), wrapper."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

import numpy as np

from symdiff.ir import Node

from . import fastmath
from .context import Context
from .emit_loops import emit_elementwise, emit_reduction
from .emit_ops import emit_copy, emit_index, emit_matmul, emit_view
from .memory import plan_memory, workspace_lines, workspace_sizes
from .plan import plan
from .wrapper import wrapper_source

#: Statements per generated function: Numba's compile time grows superlinearly with function length.
PART_BUDGET = 150
_HERE = Path(__file__).parent
_MATH_NAMES = ("exp", "log", "tanh", "sigmoid", "softplus", "log1p", "expm1")
RESERVED = frozenset({"np", "numba", "math", "ir", "types", "intrinsic", "sqrt", "sin", "cos", "sign", "maximum",
                      "minimum", *_MATH_NAMES}) | {n for n in dir(fastmath) if not n.startswith("__")}

_HELPERS = '''
@numba.njit(inline="always")
def maximum(a, b):
    return a if a > b or a != a else b


@numba.njit(inline="always")
def minimum(a, b):
    return a if a < b or a != a else b


@numba.njit(inline="always")
def sign(a):
    return (a > 0) - (a < 0) + a * 0


sqrt = math.sqrt
sin = math.sin
cos = math.cos
'''


def prelude(libm: bool) -> str:
    """Shared text of every module: fast transcendentals, runtime checks, helper functions."""
    text = [(_HERE / "fastmath.py").read_text(), (_HERE / "runtime.py").read_text(), _HELPERS]
    aliases = []
    for name in _MATH_NAMES:
        fast, template = fastmath.FUNCTIONS[name]
        if libm:
            aliases += ["@numba.njit(inline='always')", f"def {name}(x):", f"    return {template.format('x')}", ""]
        else:
            aliases.append(f"{name} = {fast}")
    text.append("\n".join(aliases) + "\n")
    return "\n\n".join(t.strip("\n") for t in text) + "\n"


def check_names(inputs: list[Node]) -> None:
    for node in inputs:
        if node.name.startswith("_") or keyword.iskeyword(node.name) or node.name in RESERVED:
            raise ValueError(f"input name {node.name!r} cannot be compiled: names starting with '_', Python keywords "
                             f"and the generated code's own names ({', '.join(sorted(RESERVED)[:12])}, ...) are "
                             "reserved; rename the tensor")


def generate(inputs: list[Node], outputs: list[Node], updates: list[tuple[Node, Node]], *, name: str,
             libm: bool = False, fastmath_flag: bool = False, fuse: bool = True, header: str = "") -> str:
    """The complete module source for one compiled function (deterministic for a given graph)."""
    check_names(inputs)
    schedule = plan(outputs, updates, fuse)
    ctx = Context(schedule, inputs)
    constants = []
    for node in schedule.order:
        if node.op == "constant" and id(node) in schedule.arrays:
            ctx.array_names[id(node)] = ctx.var(node, "_k")
            ctx.layout[id(node)] = "C"
            constants.append(_constant_source(ctx.array(node), node))
    hoisted, bodies, defined, reads = [], [], [], []
    for section in schedule.sections:
        lines: list[str] = []
        if section.kind == "view":
            (node,) = section.nodes
            emit_view(ctx, node, lines)
            hoisted.extend(lines)  # a view aliases its base, whose lifetime covers the view's readers
            continue
        emitter = {"elementwise": emit_elementwise, "update": emit_elementwise, "reduction": emit_reduction}
        if section.kind in emitter:
            ids = emitter[section.kind](ctx, section, lines)
        elif section.kind == "matmul":
            ids = emit_matmul(ctx, section.nodes[0], lines)
        else:
            ids = emit_index(ctx, section.nodes[0], lines)
        bodies.append(lines)
        defined.append([] if section.kind == "update" else list(section.nodes))
        reads.append(ids)
    finals, final_reads, fresh = _final_copies(ctx, schedule, outputs)
    memory = plan_memory(ctx, defined, reads, final_reads, fresh)
    kernel = _kernel_source(ctx, bodies, finals, memory, hoisted, outputs, fastmath_flag)
    sizes = workspace_sizes(ctx, memory)
    return "\n\n".join(filter(None, [
        header + prelude(libm).rstrip(), "\n".join(constants), kernel,
        wrapper_source(ctx, name, outputs, updates, sizes),
    ])) + "\n"


def _constant_source(var: str, node: Node) -> str:
    array = node.attr("value").array
    values = ", ".join(repr(v) if np.isfinite(v) else f"float({str(v)!r})" for v in array.ravel().tolist())
    return f"{var} = np.array([{values}], dtype=np.{array.dtype.name}).reshape({array.shape})  # constant"


def _final_copies(ctx: Context, schedule, outputs: list[Node]):
    """Copies after the last section: updates that could not be written in place, and outputs that are
    views or inputs (returned arrays must own their memory)."""
    lines, final_reads = [], set()
    for target, value in schedule.copied_updates:
        lines.append(f"    # update {target.name} <- {ctx.describe(value)}")
        final_reads |= emit_copy(ctx, value, ctx.array(target), lines)
    fresh = {id(n) for n in outputs if id(n) not in schedule.output_copies}
    for k, node in enumerate(schedule.output_copies.values()):
        if ctx.is_scalar_input(node):
            continue
        out = f"_out{k}"
        ctx.output_alias[id(node)] = out
        lines.append(f"    {out} = np.empty({ctx.tuple_expr(node.shape)}, np.{node.dtype})  # returned copy")
        final_reads |= emit_copy(ctx, node, out, lines)
    return lines, final_reads, fresh


def _kernel_source(ctx, bodies, finals, memory, hoisted, outputs, fastmath_flag) -> str:
    params = [ctx.array(n) for n in ctx.inputs] + [f"_ws_{dtype}" for dtype in memory.slots]
    # Full fastmath would let LLVM reassociate away the range-reduction tricks of fastmath.py; this subset
    # keeps them exact while allowing FMA contraction, reciprocal and approximate-function rewrites.
    fast = "{'contract', 'afn', 'arcp', 'nsz'}" if fastmath_flag else "False"
    flags = f"cache=True, error_model='numpy', fastmath={fast}"
    prologue = [f"    {var} = {ctx.dim_source(d)}  # named dim {d!r}" for d, var in ctx.dims.items()]
    prologue += workspace_lines(ctx, memory) + hoisted
    parts, calls = _split(ctx, bodies, flags)
    returns = [_return_value(ctx, n) for n in outputs]
    types = [_numba_type(n) for n in ctx.inputs] + [f"numba.{'boolean' if d == 'bool' else d}[::1]"
                                                    for d in memory.slots]
    signature = "(" + ", ".join(types) + ("," if len(types) == 1 else "") + ")"
    kernel = [f"@numba.njit({signature}, {flags})", f"def _kernel({', '.join(params)}):",
              '    """Forward, backward and updates in one call (generated by symdiff)."""']
    kernel += prologue + calls + finals + [f"    return ({', '.join(returns)}{',' if len(returns) == 1 else ''})"]
    return "\n\n\n".join(parts + ["\n".join(kernel)])


def _numba_type(node: Node) -> str:
    base = "numba.boolean" if node.dtype == "bool" else f"numba.{node.dtype}"
    if node.shape == ():
        return base
    return f"{base}[{', '.join([':'] * (node.ndim - 1) + ['::1'])}]"


def _return_value(ctx: Context, node: Node) -> str:
    if ctx.is_scalar_input(node):
        return ctx.array(node)
    array = ctx.output_alias.get(id(node), ctx.array(node))
    return f"{array}[0]" if node.shape == () else array


def _split(ctx: Context, bodies: list[list[str]], flags: str) -> tuple[list[str], list[str]]:
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
    known = set(ctx.array_names.values()) | set(ctx.dims.values())
    parts, calls = [], []
    for k, group in enumerate(groups):
        lines = [line for body in group for line in body]
        used = sorted({t for line in lines for t in re.findall(r"[A-Za-z_]\w*", line.split("#")[0])} & known)
        used = [u for u in used if not u.startswith("_k")]  # module constants are globals
        parts.append("\n".join([f"@numba.njit({flags})", f"def _part{k}({', '.join(used)}):"] + lines))
        calls.append(f"    _part{k}({', '.join(used)})")
    return parts, calls
