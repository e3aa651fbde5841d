"""The generated Python entry point (the same for both backends): fast argument checks, named dims, a workspace
of its own, the returned arrays, the kernel call, results."""

from __future__ import annotations

import numpy as np

from symdiff.ir import Node

from . import kir
from .context import Context
from .memory import ALIGNMENT
from .numba_print import NUMPY_TYPE, Printer

_SCALAR_KIND = {"bool": "bool", "float32": "float", "float64": "float", "int32": "int", "int64": "int"}


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def wrapper_source(ctx: Context, name: str, outputs: list[Node], updates: list[tuple[Node, Node]],
                   sizes: dict[str, kir.Expr], numba: bool = True) -> str:
    """Source of the public function ``name``, its argument spec and its workspace allocator; ``numba``: calling
    a Numba kernel, whose dispatcher needs the arrays' byte order checked (the native entry checks it itself)."""
    text = Printer().expr
    inputs = ctx.inputs
    params = [n.name for n in inputs]
    targets = {id(t) for t, _ in updates}
    spec = ", ".join(f"({n.name!r}, {n.dtype!r}, {n.shape!r}, {id(n) in targets})" for n in inputs)
    dims = [v.name for v in ctx.dims.values()]
    # 0-d outputs live in the pooled set (one allocation saved per call): read before the set goes back
    scalars = [k for k, n in enumerate(outputs) if n.shape == ()]
    alloc = [f"def _allocate({', '.join(dims)}):", "    return ("] + [
        f"        _aligned({text(size)}, {NUMPY_TYPE[dtype]}, {ALIGNMENT})," for dtype, size in sizes.items()] + [
        f"        np.empty(1, {NUMPY_TYPE[outputs[k].dtype]})," for k in scalars] + ["    )"]
    checks = []
    for node in inputs:
        if ctx.is_scalar_input(node):
            checks.append(f"isinstance({node.name}, _SCALAR_TYPES[{_SCALAR_KIND[node.dtype]!r}])")
            if node.dtype in ("int32", "int64"):  # the kernel's conversion wraps an int out of range around
                checks[-1] += f" and {np.iinfo(node.dtype).min} <= {node.name} <= {np.iinfo(node.dtype).max}"
        else:
            checks.append(f"{node.name}.shape == {_tuple([text(ctx.dim(d)) for d in node.shape])}")
            if numba:  # Numba's type cache ignores byte order and alignment: byteswapped after unaligned read as native
                checks[-1] += f" and {node.name}.dtype.isnative"
    dims_from = []
    for d, var in ctx.dims.items():
        node = next(n for n in inputs if d in n.shape)
        dims_from.append(f"{var.name} = {node.name}.shape[{node.shape.index(d)}]")
    key = _tuple(dims)
    returned = [f"_out{k} = np.empty({text(ctx.size_expr(n.shape))}, {NUMPY_TYPE[n.dtype]})"
                for k, n in enumerate(outputs) if n.shape != ()]
    returned += [f"_out{k} = _ws[{len(sizes) + slot}]" for slot, k in enumerate(scalars)]
    args = params + [f"_ws[{k}]" for k in range(len(sizes))] + dims + [f"_out{k}" for k in range(len(outputs))]
    call = f"_kernel({', '.join(args)})"
    packed = _tuple(params)
    results = [f"_out{k}[0]" if n.shape == () else f"_out{k}.reshape({_tuple([text(ctx.dim(d)) for d in n.shape])})"
               for k, n in enumerate(outputs)]
    result = results[0] if len(results) == 1 else _tuple(results) if results else "None"
    run = [
        "try:",
        f"    {call}",
        "except (TypeError, OverflowError):  # the kernel refused an argument: explain, or convert",
        f"    {packed} = _checked_args(_SPEC, {packed})" if inputs else "    raise",
        f"    {call}",
        "except ValueError as _error:  # a kernel's check: arguments sharing memory; name them",
        f"    raise (_shared_memory(_SPEC, {packed}) if str(_error) == _OVERLAP_MESSAGE else _error) from None",
    ]
    body = [f"def {name}({', '.join(params)}):",
            '    """Run the compiled function (the module docstring gives the shapes, dtypes and updates)."""',
        "    try:",
        *[f"        {line}" for line in dims_from],
        f"        _ok = {' and '.join(checks) if checks else 'True'}",
        "    except (AttributeError, IndexError, TypeError):",
        "        _ok = False",
        "    if not _ok:  # slow path: convert what can be converted, else raise naming the argument",
        f"        {packed} = _checked_args(_SPEC, {packed})" if inputs else "        pass",
        *[f"        {line}" for line in dims_from],
    ]
    if not sizes and not scalars:  # nothing pooled: no set to take and give back
        body += [f"    {line}" for line in returned] + [f"    {line}" for line in run] + [f"    return {result}"]
    else:
        body += [
            "    try:  # a set of workspace buffers of its own, so concurrent calls never share one",
            f"        _ws = _POOLS[{key}].pop()",
            "    except (KeyError, IndexError):",
            f"        _ws = _WORKSPACES.allocate({key})",
            *[f"    {line}" for line in returned],
            "    try:",
            *[f"        {line}" for line in run],
            f"        return {result}",
            "    finally:",
            f"        _POOLS.get({key}, _WORKSPACES.dropped).append(_ws)",
        ]
    return "\n".join([f"_SPEC = {_tuple([spec]) if spec else '()'}", "", ""] + alloc + [
        "", "", "_WORKSPACES = _Workspaces(_allocate)", "_POOLS = _WORKSPACES.pools", "", ""] + body)
