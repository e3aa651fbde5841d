"""The Python-callable entry of a native kernel: a METH_FASTCALL builtin written in IR.

It checks and unboxes every argument itself (ndarray type, dtype, byte order, C-contiguity, writability of
the arrays the kernel writes; float/int/bool scalars), so a call costs about what a Numba dispatch does and
never reads memory of the wrong type. The kernel runs with the GIL released, so threads call kernels at
once. A bad argument raises TypeError naming it (the generated wrapper then
explains in detail); a ``raise`` inside the kernel becomes that exception with its message.
"""

from __future__ import annotations

import ctypes
import functools

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from .. import kir
from .dtypes import F64, I8, I32, I64, MEMORY, convert
from .unit import external

_PTR = I8.as_pointer()
# PyArrayObject / PyArray_Descr field offsets (NumPy's public struct layout, the same in NumPy 1.x and 2.x;
# verified against a live array by check_layout before any kernel is loaded).
_DATA, _DESCR, _FLAGS, _TYPE_NUM, _BYTEORDER = 16, 56, 64, 28, 26
_C_CONTIGUOUS, _WRITEABLE = 0x1, 0x400
_PYTHON_FUNCTIONS = {
    "PyType_IsSubtype": ir.FunctionType(I32, [_PTR, _PTR]),
    "PyErr_SetString": ir.FunctionType(ir.VoidType(), [_PTR, _PTR]),
    "PyErr_Occurred": ir.FunctionType(_PTR, []),
    "PyFloat_AsDouble": ir.FunctionType(F64, [_PTR]),
    "PyLong_AsLongLong": ir.FunctionType(I64, [_PTR]),
    "PyObject_IsTrue": ir.FunctionType(I32, [_PTR]),
    "Py_IncRef": ir.FunctionType(ir.VoidType(), [_PTR]),
    "PyEval_SaveThread": ir.FunctionType(_PTR, []),
    "PyEval_RestoreThread": ir.FunctionType(ir.VoidType(), [_PTR]),
}
_PYTHON_DATA = ("PyExc_TypeError", "PyExc_IndexError", "PyExc_ValueError")
ENTRY_SYMBOL = "symdiff_native_entry"
# The C API goes by symdiff's own symbol names: the JIT's symbol table is process-wide and other libraries
# (Numba) bind the plain names to other things.
_PREFIX = "symdiff_py_"


def _type_numbers(dtype: str) -> list[int]:
    """Every NumPy type number equal to ``dtype`` (int64 is both 'l' and 'q' on LP64 platforms)."""
    target = np.dtype(dtype)
    return sorted({np.dtype(c).num for c in np.typecodes["All"] if c not in "MmOUVSa" and np.dtype(c) == target})


class _Entry:
    def __init__(self, module: ir.Module, kernel: ir.Function, params: list[kir.Param],
                 messages: list[tuple[str, str]]) -> None:
        self.module, self.strings = module, {}
        fn = ir.Function(module, ir.FunctionType(_PTR, [_PTR, _PTR.as_pointer(), I64]), ENTRY_SYMBOL)
        self.b = b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.fail = fn.append_basic_block("fail")
        with b.goto_block(self.fail):
            b.ret(ir.Constant(_PTR, None))
        _, args, nargs = fn.args
        self.guard(b.icmp_signed("==", nargs, I64(len(params))), "PyExc_TypeError",
                   f"native kernel: expected {len(params)} arguments")
        values = [self.unbox(p, b.load(b.gep(args, [I64(k)]))) for k, p in enumerate(params)]
        thread = b.call(self.python("PyEval_SaveThread"), [])  # the kernel touches no Python object
        status = b.call(kernel, values)
        b.call(self.python("PyEval_RestoreThread"), [thread])
        for code, (exception, message) in enumerate(messages, start=1):
            self.guard(b.icmp_signed("!=", status, I32(code)), f"PyExc_{exception}", message)
        none = self.symbol("_Py_NoneStruct", I8)
        b.call(self.python("Py_IncRef"), [none])
        b.ret(none)

    def python(self, name: str) -> ir.Function:
        return external(self.module, _PREFIX + name, _PYTHON_FUNCTIONS[name])

    def symbol(self, name: str, ty: ir.Type) -> ir.GlobalVariable:
        return external(self.module, _PREFIX + name, ty)

    def text(self, message: str) -> ir.Value:
        if message not in self.strings:
            data = bytearray(message.encode() + b"\0")
            var = ir.GlobalVariable(self.module, ir.ArrayType(I8, len(data)), f"symdiff_text_{len(self.strings)}")
            var.global_constant, var.linkage, var.initializer = True, "private", ir.Constant(var.type.pointee, data)
            self.strings[message] = var
        return self.b.bitcast(self.strings[message], _PTR)

    def guard(self, ok: ir.Value, exception: str, message: str) -> None:
        """Unless ``ok``: set the exception and return NULL."""
        b = self.b
        with b.if_then(b.not_(ok), likely=False):
            b.call(self.python("PyErr_SetString"), [b.load(self.symbol(exception, _PTR)), self.text(message)])
            b.branch(self.fail)

    def field(self, base: ir.Value, offset: int, ty: ir.Type) -> ir.Value:
        return self.b.load(self.b.bitcast(self.b.gep(base, [I64(offset)]), ty.as_pointer()))

    def unbox(self, param: kir.Param, obj: ir.Value) -> ir.Value:
        b = self.b
        dtype = param.value.dtype
        if isinstance(param.value, kir.Array):
            kind = self.field(obj, 8, _PTR)
            ndarray = self.symbol("ndarray_type", I8)
            is_array = b.icmp_unsigned("==", kind, ndarray)
            with b.if_then(b.not_(is_array), likely=False):
                self.guard(b.icmp_signed("!=", b.call(self.python("PyType_IsSubtype"), [kind, ndarray]), I32(0)),
                           "PyExc_TypeError", f"argument {param.name!r}: expected a NumPy array")
            descr = self.field(obj, _DESCR, _PTR)
            number = self.field(descr, _TYPE_NUM, I32)
            ok = b.icmp_signed("!=", self.field(descr, _BYTEORDER, I8), I8(ord(">")))
            ok = b.and_(ok, _any(b, [b.icmp_signed("==", number, I32(n)) for n in _type_numbers(dtype)]))
            need = _C_CONTIGUOUS | (_WRITEABLE if param.written else 0)
            ok = b.and_(ok, b.icmp_signed("==", b.and_(self.field(obj, _FLAGS, I32), I32(need)), I32(need)))
            self.guard(ok, "PyExc_TypeError", f"argument {param.name!r}: expected a C-contiguous "
                       f"{'writeable ' if param.written else ''}{dtype} array")
            return b.bitcast(self.field(obj, _DATA, _PTR), MEMORY[dtype].as_pointer())
        # The C API's conversions, and the kind of what each returns: -1 may be an error, or a real value.
        api, returned = {"float64": ("PyFloat_AsDouble", "float64"), "float32": ("PyFloat_AsDouble", "float64"),
                         "bool": ("PyObject_IsTrue", "int32")}.get(dtype, ("PyLong_AsLongLong", "int64"))
        value = b.call(self.python(api), [obj])
        minus_one = ir.Constant(value.type, -1)
        failed = b.fcmp_ordered("==", value, minus_one) if returned == "float64" else \
            b.icmp_signed("==", value, minus_one)
        with b.if_then(failed, likely=False):  # only an error if one is set
            error = b.call(self.python("PyErr_Occurred"), [])
            with b.if_then(b.icmp_unsigned("!=", error, ir.Constant(_PTR, None)), likely=False):
                b.branch(self.fail)
        return convert(b, value, returned, dtype)


def _any(b: ir.IRBuilder, tests: list[ir.Value]) -> ir.Value:
    result = tests[0]
    for test in tests[1:]:
        result = b.or_(result, test)
    return result


def define_entry(module: ir.Module, kernel: ir.Function, params: list[kir.Param],
                 messages: list[tuple[str, str]]) -> None:
    """Add ``symdiff_native_entry`` (METH_FASTCALL) calling ``kernel`` with the unboxed ``params``."""
    _Entry(module, kernel, params, messages)


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p), ("ml_flags", ctypes.c_int),
                ("ml_doc", ctypes.c_char_p)]


_METH_FASTCALL = 0x80


@functools.cache  # once per process
def bind_python_symbols() -> None:
    """Point the entry's external symbols at this interpreter's C API and NumPy's ndarray type."""
    api = ctypes.pythonapi
    for name in _PYTHON_FUNCTIONS:
        llvm.add_symbol(_PREFIX + name, ctypes.cast(getattr(api, name), ctypes.c_void_p).value)
    for name in _PYTHON_DATA:
        llvm.add_symbol(_PREFIX + name, ctypes.addressof(ctypes.c_void_p.in_dll(api, name)))
    llvm.add_symbol(_PREFIX + "_Py_NoneStruct", id(None))
    llvm.add_symbol(_PREFIX + "ndarray_type", id(np.ndarray))


@functools.cache  # the layout of this process's NumPy does not change
def check_layout() -> bool:
    """Whether this NumPy's array struct has the field offsets the entry reads."""
    probe = np.zeros(3)
    data = ctypes.c_void_p.from_address(id(probe) + _DATA).value
    flags = ctypes.c_int32.from_address(id(probe) + _FLAGS).value
    descr = ctypes.c_void_p.from_address(id(probe) + _DESCR).value
    number = ctypes.c_int32.from_address(descr + _TYPE_NUM).value
    return data == probe.ctypes.data and flags & _C_CONTIGUOUS and number == probe.dtype.num


def python_function(address: int, name: str, owner: object) -> object:
    """A builtin function object over the entry at ``address``. It holds ``owner`` (what keeps the machine
    code alive: the execution engine) and its own method definition as its ``self``, so the function stays
    valid for as long as anyone holds it."""
    definition = _MethodDef(name.encode(), address, _METH_FASTCALL, None)
    new = ctypes.pythonapi.PyCFunction_NewEx
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]
    return new(ctypes.addressof(definition), (owner, definition), None)
