"""The generated Python entry point: fast argument checks, workspace lookup, kernel call, results."""

from __future__ import annotations

from symdiff.ir import Node

from .context import NUMPY_TYPE, Context


def _doc(name: str, inputs: list[Node], outputs: list[Node], updates: list[tuple[Node, Node]]) -> list[str]:
    lines = [f'    """{name}: compiled by symdiff.', "",
             "    Arguments (C-contiguous NumPy arrays of exactly these dtypes):"]
    targets = {id(t) for t, _ in updates}
    for node in inputs:
        note = " (updated in place)" if id(node) in targets else ""
        lines.append(f"        {node.name}: {node.dtype} {node.shape}{note}")
    lines.append("    Returns:" if outputs else "    Returns None.")
    for k, node in enumerate(outputs):
        lines.append(f"        [{k}] {node.dtype} {node.shape}")
    return lines + ['    """']


def wrapper_source(ctx: Context, name: str, outputs: list[Node], updates: list[tuple[Node, Node]],
                   sizes: dict[str, str]) -> str:
    """Source of the wrapper function ``name`` and its workspace allocator."""
    inputs = ctx.inputs
    params = ", ".join(ctx.param(n) for n in inputs)
    targets = {id(t) for t, _ in updates}
    spec = ", ".join(f"({n.name!r}, {n.dtype!r}, {n.shape!r}, {id(n) in targets})" for n in inputs)
    dim_vars = list(ctx.dims.values())
    alloc = [f"def _allocate({', '.join(dim_vars)}):", "    return ("] + [
        f"        np.empty({size}, {NUMPY_TYPE[dtype]})," for dtype, size in sizes.items()] + ["    )"]
    checks = []
    for node in inputs:
        if ctx.is_scalar_input(node):
            kind = "bool" if node.dtype == "bool" else "float" if node.dtype.startswith("float") else "int"
            checks.append(f"isinstance({ctx.param(node)}, _SCALAR_TYPES[{kind!r}])")
            continue
        expected = "(" + ", ".join(ctx.dim(d) for d in node.shape) + ("," if node.ndim == 1 else "") + ")"
        checks.append(f"{ctx.param(node)}.shape == {expected}")
    dims_from = [f"{var} = {ctx.dim_source(d)}" for d, var in ctx.dims.items()]
    key = "(" + ", ".join(dim_vars) + ("," if len(dim_vars) == 1 else "") + ")"
    ws_args = ", ".join(f"_ws[{k}]" for k in range(len(sizes)))
    call = f"_kernel({', '.join(filter(None, [params, ws_args]))})"
    packed = f"({params}{',' if len(inputs) == 1 else ''})"
    body = [f"def {name}({params}):"] + _doc(name, inputs, outputs, updates) + [
        "    try:",
        *[f"        {line}" for line in dims_from],
        f"        _ok = {' and '.join(checks) if checks else 'True'}",
        "    except (AttributeError, IndexError, TypeError):",
        "        _ok = False",
        "    if not _ok:  # slow path: convert what can be converted, else raise naming the argument",
        f"        {packed} = _checked_args(_SPEC, {packed})"
        if inputs else "        pass",
        *[f"        {line}" for line in dims_from],
        "    try:  # a set of workspace buffers of its own, so concurrent calls never share one",
        f"        _ws = _POOLS[{key}].pop()",
        "    except (KeyError, IndexError):",
        f"        _ws = _WORKSPACES.allocate({key})",
        "    try:",
        f"        _r = {call}",
        "    except TypeError:  # the kernel's typed dispatch refused an argument (dtype, layout or type)",
        f"        {packed} = _checked_args(_SPEC, {packed})"
        if inputs else "        raise",
        f"        _r = {call}",
        "    finally:",
        f"        _POOLS.get({key}, _WORKSPACES.dropped).append(_ws)",
    ]
    results = [f"{NUMPY_TYPE[n.dtype]}(_r[{k}])" if n.shape == () else f"_r[{k}]" for k, n in enumerate(outputs)]
    if not results:
        body.append("    return None")
    elif len(results) == 1:
        body.append(f"    return {results[0]}")
    else:
        body.append(f"    return ({', '.join(results)})")
    return "\n".join([f"_SPEC = ({spec}{',' if len(inputs) == 1 else ''})", "", ""] + alloc + [
        "", "", "_WORKSPACES = _Workspaces(_allocate)", "_POOLS = _WORKSPACES.pools", "", ""] + body)

