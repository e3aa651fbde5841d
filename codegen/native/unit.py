"""What the kernel functions of one generated module share when lowered: the LLVM module, the module-level
names they call (helpers, math aliases, constants), the ``_partN`` functions and the raise messages."""

from __future__ import annotations

import ast

import numpy as np
from llvmlite import ir

from .gemm import define_gemm
from .kinds import I64, MEMORY, NUMBA_NAMES, NUMPY_NAMES, Buffer, NativeUnsupportedError, Value
from .lower import lower_function


class Unit:
    """Module-level context of one kernel (see lower.FunctionLowering)."""

    def __init__(self, module: ir.Module, helpers: str, constants: str, parts: dict[str, ast.FunctionDef],
                 flags: tuple[str, ...]) -> None:
        self.module, self.parts, self.flags = module, parts, flags
        self.inline: dict[str, ast.FunctionDef] = {}
        self.aliases: dict[str, tuple[str, ...]] = {}
        for statement in ast.parse(helpers).body:
            if isinstance(statement, ast.FunctionDef) and isinstance(statement.body[-1], ast.Return):
                self.inline[statement.name] = statement
            elif isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
                self.aliases[statement.targets[0].id] = _alias(statement.value)
        namespace = {"np": np, "float": float}
        self.constants: dict[str, np.ndarray] = {}
        for statement in ast.parse(constants).body:  # symdiff's own literal arrays: np.array([...], dtype=...)
            self.constants[statement.targets[0].id] = eval(compile(ast.Expression(statement.value), "<constants>",
                                                                   "eval"), namespace)
        self._constant_globals: dict[str, ir.GlobalVariable] = {}
        self._parts: dict[tuple, ir.Function] = {}
        self.messages: list[tuple[str, str]] = []

    def message(self, node: ast.Raise) -> int:
        """Status code of ``raise Exception('text')`` (1-based index into ``messages``)."""
        exc = node.exc
        if not (isinstance(exc, ast.Call) and isinstance(exc.func, ast.Name) and len(exc.args) == 1
                and isinstance(exc.args[0], ast.Constant) and exc.func.id in ("IndexError", "ValueError")):
            raise NativeUnsupportedError(f"raise {ast.unparse(exc)!r}")
        entry = (exc.func.id, exc.args[0].value)
        if entry not in self.messages:
            self.messages.append(entry)
        return self.messages.index(entry) + 1

    def part(self, name: str, kinds: tuple) -> ir.Function:
        if (name, kinds) not in self._parts:
            function = lower_function(self, self.parts[name], kinds, f"{name}.{len(self._parts)}")
            function.attributes.add("noinline")  # parts bound the size of what LLVM optimizes at once
            self._parts[(name, kinds)] = function
        return self._parts[(name, kinds)]

    def gemm(self, dtype: str) -> ir.Function:
        return define_gemm(self.module, dtype, self.flags)

    def constant_buffer(self, name: str, builder: ir.IRBuilder) -> Value:
        array = self.constants[name]
        dtype = "bool" if array.dtype == np.bool_ else array.dtype.name
        if name not in self._constant_globals:
            element = MEMORY[dtype]
            values = array.astype(np.uint8).tolist() if dtype == "bool" else array.tolist()
            var = ir.GlobalVariable(self.module, ir.ArrayType(element, len(values)), f"symdiff_constant{name}")
            var.global_constant, var.linkage = True, "private"
            var.initializer = ir.Constant(var.type.pointee, [ir.Constant(element, v) for v in values])
            self._constant_globals[name] = var
        pointer = builder.gep(self._constant_globals[name], [I64(0), I64(0)], inbounds=True)
        return Value(pointer, Buffer(dtype))


def _alias(value: ast.expr) -> tuple[str, ...]:
    """What a module-level alias of the helpers stands for: an index cast, a math function or a fast one."""
    if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
        if value.value.id == "numba" and value.attr == "uintp":
            return ("index",)
        if value.value.id == "math":
            return ("math", value.attr)
    if isinstance(value, ast.Name) and value.id.startswith("fast_"):
        return ("fast", value.id.removeprefix("fast_"))
    raise NativeUnsupportedError(f"module-level name {ast.unparse(value)!r}")


def numba_kind(node: ast.expr) -> str | Buffer:
    """The kind of a type in a Numba signature: ``numba.float64``, ``numba.float64[:, ::1]``,
    ``numba.types.Array(numba.float64, 0, 'C')``."""
    if isinstance(node, ast.Attribute) and node.attr in NUMBA_NAMES:
        return NUMBA_NAMES[node.attr]
    if isinstance(node, ast.Subscript):
        return Buffer(numba_kind(node.value))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Array":
        return Buffer(numba_kind(node.args[0]))
    raise NativeUnsupportedError(f"type {ast.unparse(node)!r}")


def numpy_dtype(node: ast.expr) -> str:
    """``np.float64`` (an attribute of ``np``) as a dtype name."""
    if isinstance(node, ast.Attribute) and node.attr in NUMPY_NAMES:
        return NUMPY_NAMES[node.attr]
    raise NativeUnsupportedError(f"dtype {ast.unparse(node)!r}")
