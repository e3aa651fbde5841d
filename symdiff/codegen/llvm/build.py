"""A kernel IR as machine code: lowered (lower.py, expressions.py), given its Python entry (entry.py), optimized
like Numba does (O3 with both vectorizers), emitted as an object for this CPU, and loaded into an MCJIT engine."""

from __future__ import annotations

import llvmlite.binding as llvm
from llvmlite import ir

from .. import kir
from ..llvm_host import target_machine
from .entry import ENTRY_SYMBOL, bind_python_symbols, define_entry, python_function
from .functions import bind_libm
from .lower import lower_kernel


def llvm_module(kernel: kir.Kernel, name: str = "symdiff_native") -> ir.Module:
    """The kernel's functions and its METH_FASTCALL entry (``ENTRY_SYMBOL``) as an LLVM module (not optimized)."""
    module = ir.Module(name)
    module.triple = llvm.get_process_triple()
    unit = lower_kernel(module, kernel)
    define_entry(module, unit.functions[kernel.entry.name], kernel.entry.params, unit.messages)
    return module


#: For kernels written as explicit SIMD straight-line bodies (pointwise.py): inline the fast functions, registers
#: for stack slots, combine, common subexpressions, dead code. O1 would add loop passes whose dependence analysis
#: of a body with hundreds of loads and stores costs more than the rest of the compile, for no faster code.
STRAIGHT_LINE = ("always_inliner", "sroa", "instruction_combine", "simplify_cfg", "new_gvn", "dead_code_elimination")


def optimized(module: ir.Module, speed_level: int = 3, vectorize: bool = True,
              passes: tuple[str, ...] | None = None) -> llvm.ModuleRef:
    """``module`` parsed, verified and optimized for this CPU (``str()`` of it is the optimized IR): LLVM's pipeline
    at ``speed_level``, or only the named ``passes`` (e.g. :data:`STRAIGHT_LINE`)."""
    machine = target_machine()
    module.data_layout = str(machine.target_data)
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    options = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    options.loop_vectorization = options.slp_vectorization = vectorize
    builder = llvm.create_pass_builder(machine, options)
    if passes is None:
        builder.getModulePassManager().run(parsed, builder)
    else:
        manager = llvm.create_new_module_pass_manager()
        for name in passes:
            getattr(manager, f"add_{name}_pass")()
        manager.run(parsed, builder)
    return parsed


def object_code(module: ir.Module, speed_level: int = 3, vectorize: bool = True,
                passes: tuple[str, ...] | None = None) -> bytes:
    """``module`` optimized (see :func:`optimized`) and emitted as an object file for this CPU."""
    return target_machine().emit_object(optimized(module, speed_level, vectorize, passes))


def load_entry(obj: bytes, name: str) -> object:
    """The Python-callable entry of an object built by :func:`llvm_module` (holds its engine alive)."""
    from ..objcache import load_engine
    from .blas_bind import bind_blas
    from .threads import bind_threads

    bind_python_symbols()
    bind_threads()
    bind_libm()
    bind_blas()
    engine = load_engine(obj, target_machine())
    address = engine.get_function_address(ENTRY_SYMBOL)
    if not address:
        raise RuntimeError("native kernel: the object has no entry; delete the cache entry")
    return python_function(address, name, engine)
