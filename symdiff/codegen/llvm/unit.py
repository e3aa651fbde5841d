"""What the LLVM functions of one kernel share (the module, constants, raise messages, alias scopes of workspace
slots) and their declarations.

Each IR function becomes an LLVM function returning an ``i32`` status: 0, or the number of the ``Raise`` that
stopped it (``Unit.messages``).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from .. import kir
from .dtypes import I8, I32, MEMORY, REGISTER

#: Constant arrays larger than this are stored as bytes (formatting 10^5 LLVM constants one by one takes seconds).
_ELEMENTWISE_CONSTANT_LIMIT = 256


def _index_variables(e: kir.Expr) -> set[str]:
    """The variables of an index's arithmetic (not those of arrays it loads from: their values are data)."""
    if isinstance(e, kir.Var):
        return {e.name}
    if isinstance(e, kir.Op):
        return set().union(*(_index_variables(a) for a in e.args))
    return set()


class Unit:
    """What the functions of one kernel share: the LLVM module, constants, parts, raise messages, flags."""

    def __init__(self, module: ir.Module, kernel: kir.Kernel) -> None:
        self.module, self.kernel, self.flags = module, kernel, tuple(kernel.fastmath)
        self.messages: list[tuple[str, str]] = []
        self.functions: dict[str, ir.Function] = {}
        self._constants: dict[str, ir.GlobalVariable] = {}
        self._scopes: dict[tuple[str, int], tuple[ir.MDValue, ir.MDValue]] = {}
        #: the workspace buffers LLVM is told about (none under fast-math flags, where more freedom to reorder
        #: would let LLVM round differently from Numba)
        self.scoped_workspaces = set() if self.flags else {f"_ws_{dtype}" for dtype, _ in kernel.regions.values()}

    def alias_tags(self, array: kir.Array, index: kir.Expr) -> tuple[ir.MDValue, ir.MDValue] | None:
        """``(alias.scope, noalias)`` metadata of an access within one workspace slot (kir.Kernel.regions): each
        slot a scope, not aliasing the dtype's other slots. None for other accesses (see scoped_workspaces)."""
        if array.name not in self.scoped_workspaces:
            return None
        regions = self.kernel.regions
        slots = {regions[name] for name in _index_variables(index) if name in regions}
        if len(slots) != 1:
            return None
        (slot,) = slots
        if array.name != f"_ws_{slot[0]}":
            return None
        if not self._scopes:
            domain = self.module.add_metadata(["symdiff workspace slots"])
            scopes = {k: self.module.add_metadata([f"workspace {k[0]} slot {k[1]}", domain])
                      for k in sorted(set(regions.values()))}
            for k, scope in scopes.items():
                others = [other for j, other in scopes.items() if j != k and j[0] == k[0]]
                self._scopes[k] = self.module.add_metadata([scope]), self.module.add_metadata(others)
        return self._scopes[slot]

    def message(self, statement: kir.Raise) -> int:
        """Status code of a raise (1-based index into ``messages``)."""
        entry = (statement.exception, statement.message)
        if entry not in self.messages:
            self.messages.append(entry)
        return self.messages.index(entry) + 1

    def constant(self, name: str) -> ir.GlobalVariable:
        if name not in self._constants:
            array = self.kernel.constants[name]
            dtype = "bool" if array.dtype == bool else array.dtype.name
            element = MEMORY[dtype]
            if array.size > _ELEMENTWISE_CONSTANT_LIMIT:  # printed as one byte string: fast to format and parse
                data = bytearray(np.ascontiguousarray(array, dtype="uint8" if dtype == "bool" else array.dtype))
                var = ir.GlobalVariable(self.module, ir.ArrayType(I8, len(data)), f"symdiff_constant_{name}")
                var.initializer, var.align = ir.Constant(var.type.pointee, data), 64
            else:  # element by element: LLVM folds loads of these into immediates
                values = array.astype("uint8").tolist() if dtype == "bool" else array.ravel().tolist()
                var = ir.GlobalVariable(self.module, ir.ArrayType(element, len(values)), f"symdiff_constant_{name}")
                var.initializer = ir.Constant(var.type.pointee, [ir.Constant(element, v) for v in values])
            var.global_constant, var.linkage = True, "private"
            self._constants[name] = var
        return self._constants[name]


def external(module: ir.Module, symbol: str, ty: ir.Type) -> ir.Function | ir.GlobalVariable:
    """The module's declaration of ``symbol``, a function of type ``ty`` or a global of it (declared on first use;
    the process binds its address when the object is loaded)."""
    existing = module.globals.get(symbol)
    if existing is not None:
        return existing
    return ir.Function(module, ty, symbol) if isinstance(ty, ir.FunctionType) else ir.GlobalVariable(module, ty, symbol)


def llvm_type(value: kir.Array | kir.Var) -> ir.Type:
    return MEMORY[value.dtype].as_pointer() if isinstance(value, kir.Array) else REGISTER[value.dtype]


def declare(unit: Unit, function: kir.Function, symbol: str) -> ir.Function:
    signature = ir.FunctionType(I32, [llvm_type(p.value) for p in function.params])
    fn = ir.Function(unit.module, signature, symbol)
    for param, arg in zip(function.params, fn.args):
        # the workspaces are the wrapper's own buffers, reached through no other argument
        if isinstance(param.value, kir.Array) and (unit.kernel.distinct or param.name in unit.scoped_workspaces):
            arg.add_attribute("noalias")
    unit.functions[function.name] = fn
    return fn
