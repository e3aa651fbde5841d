"""Build a generated module's kernel as native code: split the kernel into its host side (shapes, returned
arrays, results: plain Python) and its compute side (lowered to LLVM IR), optimize, emit object code."""

from __future__ import annotations

import ast
from dataclasses import dataclass

import llvmlite.binding as llvm
from llvmlite import ir

from ..llvm_host import target_machine
from ..module import GeneratedModule
from .entry import ENTRY_SYMBOL, Parameter, define_entry
from .kinds import Buffer, NativeUnsupportedError
from .lower import lower_function
from .unit import Unit, numba_kind, numpy_dtype


@dataclass(frozen=True)
class KernelSplit:
    """``_kernel`` as host statements around one native call with ``params`` (the kernel's own
    arguments, then the names the host statements define)."""

    params: list[Parameter]
    host: list[ast.stmt]
    native: ast.FunctionDef
    returned: ast.Return
    flags: tuple[str, ...]

    def shim_source(self, kernel_args: list[str]) -> str:
        """``_kernel`` for the wrapper: host statements, the native call, the results."""
        lines = [f"def _kernel({', '.join(kernel_args)}):",
                 '    """Host side of the kernel; the compute runs in _native (symdiff native backend)."""']
        lines += [f"    {ast.unparse(s)}" for s in self.host]
        lines += [f"    _native({', '.join(p.name for p in self.params)})", f"    {ast.unparse(self.returned)}"]
        return "\n".join(lines) + "\n"


def _is_host(statement: ast.stmt) -> bool:
    """``_d0 = x.shape[0]`` or ``_a3 = np.empty(...)``: done in Python around the native call."""
    if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)):
        return False
    value = statement.value
    if isinstance(value, ast.Subscript) and isinstance(value.value, ast.Attribute) and value.value.attr == "shape":
        return True
    return isinstance(value, ast.Call) and ast.unparse(value.func) == "np.empty"


def _written_names(trees: list[ast.FunctionDef], aliases: dict[str, str]) -> set[str]:
    """Arrays the kernel stores into (element assignments, gemm outputs), through flat aliases to params."""
    names = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name):
                names.add(node.value.id)
            elif isinstance(node, ast.Call) and ast.unparse(node.func) == "gemm" and isinstance(node.args[8], ast.Name):
                names.add(node.args[8].id)
    return {aliases.get(n, n) for n in names}


def split_kernel(kernel_source: str) -> tuple[KernelSplit, dict[str, ast.FunctionDef], list[str]]:
    """The split of ``_kernel``, the ``_partN`` functions, and ``_kernel``'s argument names."""
    functions = {s.name: s for s in ast.parse(kernel_source).body if isinstance(s, ast.FunctionDef)}
    tree = functions.pop("_kernel")
    decorator = tree.decorator_list[0]
    kinds = [numba_kind(t) for t in decorator.args[0].elts]
    fastmath = next(k.value for k in decorator.keywords if k.arg == "fastmath")
    flags = tuple(sorted(ast.literal_eval(fastmath))) if isinstance(fastmath, ast.Set) else ()
    host, native, returned, aliases, host_kinds = [], [], None, {}, {}
    for statement in tree.body:
        if isinstance(statement, ast.Return):
            returned = statement
        elif _is_host(statement):
            host.append(statement)
            value = statement.value
            host_kinds[statement.targets[0].id] = "int64" if isinstance(value, ast.Subscript) else \
                Buffer(numpy_dtype(value.args[1]))
        else:
            native.append(statement)
            if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call) and \
                    isinstance(statement.value.func, ast.Attribute) and statement.value.func.attr == "reshape":
                aliases[statement.targets[0].id] = statement.value.func.value.id
    if returned is None:
        raise NativeUnsupportedError("kernel without a return statement")
    written = _written_names([tree, *functions.values()], aliases)
    args = [a.arg for a in tree.args.args]
    params = [Parameter(n, k, isinstance(k, Buffer) and n in written) for n, k in zip(args, kinds)]
    params += [Parameter(n, k, isinstance(k, Buffer)) for n, k in host_kinds.items()]
    signature = ast.arguments(posonlyargs=[], args=[ast.arg(p.name) for p in params], kwonlyargs=[], kw_defaults=[],
                              defaults=[])
    body = [s for s in native if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    function = ast.FunctionDef(name="_kernel_native", args=signature, body=body, decorator_list=[], returns=None,
                               type_params=[])
    return KernelSplit(params, host, function, returned, flags), functions, args


def build_object(generated: GeneratedModule, split: KernelSplit, parts: dict[str, ast.FunctionDef]) -> bytes:
    """Object code of the kernel and its entry (``ENTRY_SYMBOL``), optimized like Numba's (O3, vectorizers on)."""
    machine = target_machine()
    module = ir.Module("symdiff_native")
    module.triple, module.data_layout = llvm.get_process_triple(), str(machine.target_data)
    unit = Unit(module, generated.helpers, generated.constants, parts, split.flags)
    kernel = lower_function(unit, split.native, tuple(p.kind for p in split.params), "kernel")
    define_entry(module, kernel, split.params, unit.messages)
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = options.slp_vectorization = True
    passes = llvm.create_pass_builder(machine, options)
    passes.getModulePassManager().run(parsed, passes)
    return machine.emit_object(parsed)


__all__ = ["ENTRY_SYMBOL", "KernelSplit", "build_object", "split_kernel"]
