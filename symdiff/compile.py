"""``sd.compile`` and ``sd.export``: graphs to a fast callable, and that callable's source to a file.

The code generator is imported on first use, so ``import symdiff`` stays light. Two backends run the
same generated module: ``"native"`` (default) lowers its kernel with llvmlite straight to machine code
and caches the object code (no Numba in the process); ``"numba"`` imports it as written, which is also
what an exported module does.
"""

from __future__ import annotations

import functools
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .ir import Node, inputs_of, toposort, unbound_dims


class CompiledFunction:
    """A compiled graph: call it with arrays in the order of ``inputs``.

    ``source`` is the generated module's text (also what :func:`export` writes), ``module`` the imported
    module, ``path`` its file in the compile cache and ``backend`` the one that compiled it ("native" or
    "numba"). Parameters named in ``updates`` are overwritten in place on every call.
    """

    def __init__(self, module: Any, name: str, inputs: list[Node], outputs: list[Node], single: bool,
                 updates: list[tuple[Node, Node]], generated: Callable[[], Any], path: Path, backend: str,
                 options: dict[str, Any] | None = None) -> None:
        self.module, entry = module, getattr(module, name)
        # The generated function returns a bare value for one output; a one-element list asks for a tuple.
        self._call = entry if single or len(outputs) != 1 else lambda *args, **kwargs: (entry(*args, **kwargs),)
        self._single, self.options = single, dict(options or {})
        self.name, self.inputs, self.outputs, self.updates = name, inputs, outputs, updates
        self._generated, self.path, self.backend = generated, path, backend
        self.__doc__ = module.__doc__  # what it takes, returns and updates

    def __reduce__(self) -> tuple:
        """Pickles by what defines it (the graph as a flat table, the compile options, and the ops made at run time it
        reads, as data to make them from), never machine code: the receiving process makes those ops it lacks, then
        loads the kernel from its cache (the key is the graph's content) or compiles it once.
        Unpickling is as trusted as pickle itself: only unpickle data you trust."""
        from .ops.pickling import graph_state

        roots = self.inputs + self.outputs + [n for pair in self.updates for n in pair]
        records, positions, made = graph_state(roots)
        counts = (len(self.inputs), len(self.outputs))
        return _restore, (records, positions, counts, self._single, dict(self.options, backend=self.backend), made)

    @property
    def source(self) -> str:
        """The generated Numba module (what :func:`export` writes; made on first use when the kernel came from
        the cache)."""
        return self._generated().source

    #: Calling the instance calls the generated function itself: a property (CPython calls what ``__call__``'s
    #: descriptor returns) spares each call a Python frame and a kwargs dict, ~100 ns of a ~1 us small call.
    __call__ = property(operator.attrgetter("_call"), doc="Run the compiled function (arguments as ``inputs``).")

    @property
    def single_output(self) -> bool:
        """Whether the function returns one bare value (compiled with one output node, not a list)."""
        return self._single

    @property
    def from_cache(self) -> bool | None:
        """Whether the native kernel was loaded from the on-disk cache (None for the Numba backend, whose cache
        Numba keeps)."""
        return getattr(self.module, "_native_cache_hit", None) if self.backend == "native" else None

    @property
    def workspace_bytes(self) -> int:
        """Bytes of workspace buffers this function holds (kept between calls, one set per concurrent call)."""
        return self.module._WORKSPACES.nbytes

    @property
    def workspace_limit(self) -> int:
        """Bytes of workspace kept for shapes other than the most recent one (default 64 MiB)."""
        return self.module._WORKSPACES.limit

    @workspace_limit.setter
    def workspace_limit(self, nbytes: int) -> None:
        self.module._WORKSPACES.limit = int(nbytes)

    def clear_workspaces(self) -> None:
        """Free the workspace buffers kept between calls (the next call allocates what it needs)."""
        self.module._WORKSPACES.clear()

    def __repr__(self) -> str:
        names = ", ".join(n.name for n in self.inputs)
        return f"<symdiff compiled function {self.name}({names}) -> {len(self.outputs)} outputs>"

    def _repr_html_(self) -> str:
        """Notebooks: the signature, backend and updates, and the generated source in a collapsed block."""
        from html import escape

        arguments = ", ".join(f"{n.name}: {n.shape} {n.dtype}" for n in self.inputs)
        updates = ", ".join(t.name for t, _ in self.updates) or "none"
        return (f"<b>{escape(self.name)}</b>({escape(arguments)}) &rarr; {len(self.outputs)} outputs; "
                f"backend {escape(self.backend)}; updated in place: {escape(updates)}"
                f"<details><summary>generated source</summary><pre>{escape(self.source)}</pre></details>")


def _as_list(nodes: Node | Sequence[Node], what: str) -> list[Node]:
    items = [nodes] if isinstance(nodes, Node) else list(nodes)
    for item in items:
        if not isinstance(item, Node):
            raise TypeError(f"compile: {what} must be symdiff nodes, got {type(item).__name__}")
    return items


def _check_updates(inputs: list[Node], updates: Mapping[Node, Node]) -> list[tuple[Node, Node]]:
    from .ops import cast

    pairs = []
    for target, value in updates.items():
        if not isinstance(target, Node) or target.op != "input" or all(target is not n for n in inputs):
            raise ValueError(f"compile: update target {target!r} must be one of the inputs")
        value = value if isinstance(value, Node) else cast(value, target.dtype)
        if value.shape != target.shape:
            raise ValueError(f"compile: update of {target.name!r} has shape {value.shape}, "
                             f"expected the parameter's shape {target.shape}")
        if value.dtype != target.dtype:
            if not np.can_cast(value.dtype, target.dtype, "same_kind"):  # NumPy's in-place operators refuse it too
                raise TypeError(f"compile: update of {target.name!r} has dtype {value.dtype}, which would be "
                                f"truncated to the parameter's {target.dtype} at every call; make the parameter "
                                f"{value.dtype} or cast the update with sd.cast")
            value = cast(value, target.dtype)
        pairs.append((target, value))
    return pairs


def _check_dims_bound(inputs: list[Node], roots: list[Node]) -> None:
    """Every named dim of the graph (a loop's length too) is the size of some input's axis (the kernel reads it
    from there)."""
    missing = unbound_dims(roots, inputs)
    if missing:
        dim, node = missing[0]
        raise ValueError(f"compile: named dim {dim!r} of {node!r} is not a dim of any input, so its size "
                         "is unknown when the function is called; pass an input that has it")


def compile(  # noqa: A001 - the public name the design asks for
    inputs: Sequence[Node], outputs: Node | Sequence[Node] = (), updates: Mapping[Node, Node] | None = None, *,
    name: str = "fn", libm: bool = False, fastmath: bool = False, fuse: bool = True, simplify: bool = True,
    backend: str | None = None, threads: int | None = None,
) -> CompiledFunction:
    """Compile ``outputs`` (and in-place ``updates`` of input parameters) into one fused kernel.

    ``inputs`` fixes the argument order and must list every input tensor the graph reads. The
    result serves every size of the named dims. ``libm=True`` uses the C library's exp/log/tanh
    instead of symdiff's vectorizable versions; ``fastmath=True`` allows FMA contraction, reciprocals and
    approximate functions (not strict IEEE: LLVM may rewrite ``x ** 1.5`` as ``x * sqrt(x)`` and ``x ** -0.5`` as
    ``1 / sqrt(x)``, so ``(-inf) ** 1.5`` is nan and ``(-0.0) ** -0.5`` is -inf; no reassociation, so the fast
    transcendentals stay exact);
    ``fuse=False`` gives every node its own loop and array (a baseline for debugging);
    ``simplify=False`` skips the rewrite engine that otherwise runs on the graph first.
    ``backend``: "native" (default; ``$SYMDIFF_BACKEND`` changes the default) or "numba", see the module
    docstring. A kernel the native backend cannot lower is compiled by Numba (``fn.backend`` says which).
    ``threads``: a graph that treats the rows of a batch dim independently until it sums over them (a training
    step) runs large calls as that many shards of rows in parallel (see symdiff/parallel/); None (default): one
    shard per core OpenBLAS may use (all usable ones by default), for calls of enough work; 1: every call runs
    the one kernel (results then do not depend on the machine's cores, whose number decides the order the shards'
    partial sums add in).
    """
    from . import codegen

    backend = backend or os.environ.get("SYMDIFF_BACKEND") or "native"
    if backend not in ("native", "numba"):
        raise ValueError(f"compile: backend must be 'native' or 'numba', got {backend!r}")
    ins = _as_list(inputs, "inputs")
    single = isinstance(outputs, Node)
    outs = _as_list(outputs, "outputs")
    pairs = _check_updates(ins, updates or {})
    seen: dict[str, Node] = {}
    for node in ins:
        if node.op != "input":
            raise ValueError(f"compile: inputs must be sd.tensor(...) nodes, got {node!r}")
        if node.name in seen:
            raise ValueError(f"compile: input {node.name!r} is listed twice (or two inputs share the name)")
        seen[node.name] = node
    missing = [n.name for n in inputs_of(outs + [v for _, v in pairs]) if all(n is not i for i in ins)]
    if missing:
        raise ValueError(f"compile: the graph reads inputs not listed in `inputs`: {missing}")
    _check_dims_bound(ins, outs + [v for _, v in pairs])
    if not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"compile: name {name!r} must be an identifier not starting with '_'")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"compile: threads must be None or an int >= 1, got {threads!r}")
    options = {"name": name, "libm": libm, "fastmath_flag": fastmath, "fuse": fuse}

    @functools.cache
    def generated():  # simplified and generated only when the kernel is not in the cache (or its source is read)
        graph_outs, graph_pairs = outs, pairs
        if simplify:
            from .rewrite import for_kernels
            from .rewrite import simplify as rewrite

            graphs = for_kernels(rewrite(outs + [value for _, value in pairs]))
            graph_outs = graphs[:len(outs)]
            graph_pairs = [(t, v) for (t, _), v in zip(pairs, graphs[len(outs):])]
        return codegen.generate(ins, graph_outs, graph_pairs, **options)

    if backend == "native":
        from .codegen.llvm import NativeUnavailableError, fall_back, load_native

        try:
            module, path = load_native(generated, graph_key(ins, outs, pairs, dict(options, simplify=simplify)))
        except NativeUnavailableError as exc:
            fall_back(exc)
            backend = "numba"
    if backend == "numba":
        module, path = codegen.load(generated().source)
    chosen = {"name": name, "libm": libm, "fastmath": fastmath, "fuse": fuse, "simplify": simplify}
    fn = CompiledFunction(module, name, ins, outs, single, pairs, generated, path, backend,
                          dict(chosen, threads=threads))
    _split_large_calls(fn, threads, dict(chosen, backend=backend))
    return fn


def _split_large_calls(fn: CompiledFunction, threads: int | None, options: dict[str, Any]) -> None:
    """Route ``fn``'s calls through a data-parallel split (symdiff/parallel/) when its graph allows one."""
    from .parallel import SplitCall, automatic_shards, plan_split, warn_not_split

    shards = automatic_shards() if threads is None else threads
    try:
        plan = plan_split(fn.inputs, fn.outputs, fn.updates, shards) if shards > 1 else None
    except Exception as exc:  # noqa: BLE001 - a bug of the split's planner: the one kernel computes every call
        warn_not_split(f"planning failed: {type(exc).__name__}: {exc}", stacklevel=4)
        return
    if plan is None:
        return
    name = options.pop("name")

    def shard(plan):
        return compile(plan.shard_inputs, list(plan.shard_roots), name=f"{name}_shard", threads=1, **options)

    def combine(plan):
        if not plan.combine_outputs and not plan.combine_updates:
            return None
        return compile(plan.combine_inputs, plan.combine_outputs, dict(plan.combine_updates), name=f"{name}_combine",
                       threads=1, **options)

    fn._call = SplitCall(plan, fn._call, fn.single_output, shards, threads is None, shard, combine)


def _restore(records: list, positions: list[int], counts: tuple[int, int], single: bool,
             options: dict[str, Any], made: list[tuple[str, str, tuple]] = ()) -> CompiledFunction:
    """Rebuild a pickled compiled function: the ops made at run time that this process lacks (``made``: name,
    definition and ``OpDef.remake`` of each), its graph, then ``compile`` (a cache hit when the kernel is on disk)."""
    from .ops.pickling import graph_nodes

    nodes = graph_nodes(records, made, "a compiled function")
    # nodes are interned, so the same pickle gives the same roots: reuse the function built from them (a Dask
    # worker unpickles the function of every task; loading the kernel each time cost ~10 ms per task)
    return _compiled_from(tuple(nodes[k] for k in positions), counts, single, tuple(sorted(options.items())))


@functools.lru_cache(maxsize=64)  # a long-lived worker receiving many functions keeps the latest
def _compiled_from(roots: tuple[Node, ...], counts: tuple[int, int], single: bool,
                   options: tuple[tuple[str, Any], ...]) -> CompiledFunction:
    """The compiled function of unpickled roots (inputs, outputs, then update targets and values in pairs)."""
    n_in, n_out = counts
    inputs, outputs, rest = roots[:n_in], roots[n_in:n_in + n_out], roots[n_in + n_out:]
    updates = dict(zip(rest[0::2], rest[1::2]))
    return compile(list(inputs), outputs[0] if single else list(outputs), updates, **dict(options))


def graph_key(inputs: list[Node], outputs: list[Node], updates: list[tuple[Node, Node]], options: dict) -> str:
    """What determines a compiled function, as text: its inputs, the structure of its outputs and updates, the
    meaning of ops made at run time, and the options (the cache adds the code and versions that compile it)."""
    from .ops import OPS
    from .rewrite import fingerprint

    roots = outputs + [value for _, value in updates]
    lines = [repr(sorted(options.items())), repr([(n.name, n.shape, n.dtype) for n in inputs])]
    lines += [fingerprint(n).hex() for n in roots] + [t.name for t, _ in updates]
    lines += sorted({f"{n.op}={OPS[n.op].definition}" for n in toposort(roots) if OPS[n.op].definition})
    return "\n".join(lines)


def export(fn: CompiledFunction, path: str | Path) -> Path:
    """Write ``fn``'s generated module to ``path``: a standalone module (numpy + numba) defining
    ``fn.name`` with the same signature, checks and results."""
    if not isinstance(fn, CompiledFunction):
        raise TypeError(f"export: expected a compiled function from sd.compile, got {type(fn).__name__}")
    target = Path(path)
    target.write_text(fn.source, encoding="utf-8")
    return target
