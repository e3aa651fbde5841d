"""The Numba module of a compiled function, printed from its kernel IR: a docstring, the imports it needs, the
helpers and fast functions its kernel uses, BLAS when it multiplies matrices, its constants, the kernel, the
argument checks and the public function. This text is ``fn.source``, what ``sd.export`` writes and what
``backend="numba"`` imports."""

from __future__ import annotations

from pathlib import Path

from . import kir
from .numba_print import HELPERS, Printer, constant_source, fast_function_source, numba_signature

_HERE = Path(__file__).parent


def _pasted(name: str) -> str:
    """A file of this package as generated modules carry it: without its docstring and imports (the module's
    imports cover them; one namespace, so the relative ones go)."""
    body = (_HERE / name).read_text().split('"""', 2)[2]
    return "\n".join(line for line in body.splitlines() if not line.startswith(("import ", "from "))).strip("\n")


def runtime_source(wrapper: str) -> str:
    """The argument checks and workspace pools every generated module carries (runtime.py, without its docstring
    and imports: ``types`` and ``numpy as np`` are among the module's), without the scalar types' table when
    ``wrapper`` takes no scalar argument."""
    text = (_HERE / "runtime.py").read_text()
    text = text[text.index("import numpy as np\n") + len("import numpy as np\n"):]
    if "_SCALAR_TYPES[" not in wrapper:
        blocks = text.split("\n\n\n")
        text = "\n\n\n".join(b for b in blocks if "\n_SCALAR_TYPES = " not in "\n" + b.strip("\n"))
    return text.strip("\n") + "\n"


def _function_source(function: kir.Function, printer: Printer, flags: str, entry: bool) -> str:
    lines = []
    if entry:
        lines.append(f"@numba.njit({numba_signature(function)}, {flags})")
    else:
        lines.append(f"@numba.njit({flags})")
    names = [p.argument or p.name for p in function.params]
    lines.append(f"def {function.name}({', '.join(names)}):")
    if function.doc:
        lines.append(f'    """{function.doc}"""')
    for p in function.params:
        if p.argument:  # an N-d argument, read flat
            lines.append(f"    {p.name} = {p.argument}.reshape({p.argument}.size)  # flat view of {p.argument}")
    lines += printer.body(function.body, "    ")
    return "\n".join(lines)


def module_source(header: str, name: str, kernel: kir.Kernel, wrapper: str) -> str:
    """The whole module text (deterministic: the same kernel gives the same bytes)."""
    printer = Printer(libm=kernel.libm)
    fast = "{" + ", ".join(repr(f) for f in kernel.fastmath) + "}" if kernel.fastmath else "False"
    flags = f"cache=True, nogil=True, error_model='numpy', fastmath={fast}"
    functions = [_function_source(f, printer, flags, k == 0) for k, f in enumerate(kernel.functions)]
    fast_functions = [fast_function_source(f, libm, dtype, printer) for f, libm, dtype in sorted(printer.fast)]
    helpers = [HELPERS[h] for h in sorted(printer.helpers)]  # after the fast functions: they use helpers too
    # ctypes, glob, os and llvmlite.binding bind BLAS; math for the C library's functions; types for the runtime
    standard = [name for name, used in (("ctypes", printer.gemm), ("glob", printer.gemm), ("math", printer.math),
                                        ("os", printer.gemm), ("types", True)) if used]
    imports = [f"import {name}" for name in standard] + [
        "", *(["import llvmlite.binding"] if printer.gemm else []), "import numba", "import numpy as np"]
    if printer.helpers & {"_bitcast", "_fmuladd"}:
        imports.insert(imports.index("import numba"), "import llvmlite.ir")
        imports.insert(imports.index("import numpy as np"), "import numba.extending")
    constants = [constant_source(array_name, array) for array_name, array in kernel.constants.items()]
    parts = [f'"""{header.strip()}"""' if header else "", "\n".join(imports), f"__all__ = [{name!r}]",
             *helpers, *fast_functions]
    if printer.gemm:
        parts.append(_pasted("blas.py"))
    if printer.gram:
        parts.append(_pasted("blas_gram.py"))
    parts += ["\n".join(constants), *reversed(functions[1:]), functions[0], runtime_source(wrapper), wrapper]
    return "\n\n\n".join(p.strip("\n") for p in parts if p) + "\n"
