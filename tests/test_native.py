"""The native backend: same numbers as the Numba backend, no Numba in the process, argument checks in
the entry, object-code cache, fallback to Numba for kernel text outside the lowered subset."""

import os
import subprocess
import sys

import numpy as np
import pytest

import symdiff as sd
from tests.mlp import mlp_graph, mlp_values, sgd_step


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_native_and_numba_backends_agree_bit_for_bit(dtype):
    inputs, loss = mlp_graph(30, 20, 5, dtype=dtype)  # products above SMALL_MATMUL: BLAS on both sides
    outputs, updates = sgd_step(inputs, loss)
    steps = {b: sd.compile(inputs, outputs[0], updates, backend=b) for b in ("native", "numba")}
    assert {b: f.backend for b, f in steps.items()} == {"native": "native", "numba": "numba"}
    values = mlp_values(40, 30, 20, 5, dtype=np.dtype(dtype))
    runs = {b: [v.copy() for v in values] for b in steps}
    for _ in range(5):
        losses = {b: steps[b](*runs[b]) for b in steps}
        assert losses["native"] == losses["numba"]
    for a, b in zip(runs["native"], runs["numba"]):
        np.testing.assert_array_equal(a, b)


def test_entry_checks_every_argument_itself():
    x, w = sd.tensor("x", ("n",)), sd.tensor("w", ("n",))
    fn = sd.compile([x, w], sd.sum(sd.tanh(x) * w) + sd.sum(sd.exp(x)), {w: w - 0.5 * sd.tanh(x)})
    native, (workspace, _) = fn.module._kernel, fn.module._allocate(3)  # the set ends with the 0-d output
    # The raw entry takes the arrays, the workspace, the named dim 'n', then the returned 1-element array.
    good = [np.ones(3), np.ones(3), workspace, 3, np.empty(1)]
    native(*good)
    bad = {0: np.ones(3, np.float32), 1: np.ones(6)[::2], 2: [0.0] * 3, 3: "three", 4: np.empty(1).astype(">f8")}
    for position, value in bad.items():
        args = list(good)
        args[position] = value
        with pytest.raises(TypeError):
            native(*args)
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.raises(TypeError, match="'w'.*writeable"):
        native(good[0], frozen, *good[2:])
    native(frozen, *good[1:])  # an array the kernel only reads may be read-only
    with pytest.raises(TypeError, match="expected 5 arguments"):
        native(*good[:4])
    # Through the public function, the wrapper turns the entry's refusal into its detailed message.
    with pytest.raises(ValueError, match="'w' is updated in place but is read-only"):
        fn(np.ones(3), frozen)
    np.testing.assert_allclose(fn(frozen, np.ones(3)), 3 * (np.tanh(1.0) + np.e))


_NO_NUMBA_SCRIPT = """
import sys
import numpy as np, symdiff as sd
sys.path.insert(0, {root!r})
from tests.mlp import mlp_graph, mlp_values, sgd_step
inputs, loss = mlp_graph(30, 20, 5)
outputs, updates = sgd_step(inputs, loss)
fn = sd.compile(inputs, outputs[0], updates)
print(fn.backend, fn.module._native_cache_hit, float(fn(*mlp_values(8, 30, 20, 5))), "numba" in sys.modules)
"""


def _run(cache, script: str, count: int = 1) -> list[str]:
    """Output words of ``script`` run by ``count`` processes at once (the first process's)."""
    env = dict(os.environ, SYMDIFF_CACHE_DIR=str(cache))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    procs = [subprocess.Popen([sys.executable, "-c", script.format(root=root)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(count)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    words = [out.split() for out, _ in outs]
    assert all(w[2] == words[0][2] for w in words)  # the same loss in every process
    return words[0]


def test_native_processes_never_import_numba_and_reuse_object_code(tmp_path):
    cold = _run(tmp_path, _NO_NUMBA_SCRIPT, count=2)  # two processes compiling the same model at once
    warm = _run(tmp_path, _NO_NUMBA_SCRIPT)
    assert cold[0] == "native" and cold[1] == "False" and cold[3] == "False"
    assert warm == ["native", "True", cold[2], "False"]  # loaded from disk, same result, still no Numba
    (obj,) = tmp_path.glob("*/*/native.o")
    obj.write_bytes(obj.read_bytes()[:100])  # truncated object file: detected by its digest, rebuilt
    assert _run(tmp_path, _NO_NUMBA_SCRIPT) == cold
    obj.write_bytes(b"\0" * 32 + b"not an object file")
    assert _run(tmp_path, _NO_NUMBA_SCRIPT) == cold
    assert _run(tmp_path, _NO_NUMBA_SCRIPT) == warm


def test_a_process_that_cannot_run_native_kernels_falls_back_to_numba_with_a_warning(monkeypatch):
    import symdiff.codegen.llvm

    def refuse(generate, key):
        raise symdiff.codegen.llvm.NativeUnavailableError("test: no native kernels here")

    monkeypatch.setattr(symdiff.codegen.llvm, "load_native", refuse)
    x = sd.tensor("x", (3,))
    with pytest.warns(RuntimeWarning, match="Numba instead of the native backend: test: no native kernels here"):
        fn = sd.compile([x], sd.sum(sd.exp(x)), name="fallback")
    assert fn.backend == "numba" and fn(np.zeros(3)) == 3.0
    with pytest.raises(ValueError, match="backend must be"):
        sd.compile([x], x, backend="cuda")


def test_an_op_without_a_kernel_lowering_is_named_when_compiled():
    from symdiff.codegen.scalar import MissingLoweringError
    from symdiff.ops import defop, make
    from symdiff.ops.elementwise import same_shape

    defop("test.unlowered", "elementwise", same_shape, lambda x: x)
    try:
        x = sd.tensor("x", (3,))
        with pytest.raises(MissingLoweringError, match="'test.unlowered' has no lowering for compiled kernels"):
            sd.compile([x], make("test.unlowered", [x]) * 2.0)
    finally:
        from symdiff.ops import OPS

        del OPS["test.unlowered"]


def test_one_kernel_mixing_float64_and_float32_math_and_int32_abs():
    # Regressions: LLVM intrinsics were declared once per name whatever the type (a float32 sqrt after a
    # float64 one failed to compile), and abs of an int32 was widened to int64 (NumPy wraps at its minimum).
    a, b, i = sd.tensor("a", (3,)), sd.tensor("b", (3,), "float32"), sd.tensor("i", (3,), "int32")
    outputs = [sd.abs(a), sd.abs(b), sd.sqrt(a * a), sd.sqrt(b * b), sd.abs(a) ** 1.7, sd.abs(b) ** 1.7,
               sd.sin(a), sd.sin(b), sd.abs(i) * 0.5]
    feed = {a: np.array([-1.5, 2.0, -3.0]), b: np.array([-0.5, 4.0, 9.0], np.float32),
            i: np.array([-(2**31), 5, -7], np.int32)}
    fn = sd.compile([a, b, i], outputs)
    assert fn.backend == "native"
    for got, want in zip(fn(*feed.values()), sd.evaluate(outputs, feed)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_fastmath_kernels_agree_with_numba_bit_for_bit():
    # Regressions: with fastmath=True Numba flags every float call (pow) and compiles gemm's loop nest with
    # the kernel's flags; the native backend did neither, so x**-0.5 and small products differed.
    x, W = sd.tensor("x", ("n", 4)), sd.tensor("W", (4, 3))
    outputs = [sd.abs(x) ** -0.5, sd.cos(x) ** 2.5, x @ W, sd.exp(x) / (1.0 + x * x)]
    rng = np.random.default_rng(4)
    values = [rng.normal(size=(9, 4)), rng.normal(size=(4, 3))]
    native, numba = (sd.compile([x, W], outputs, fastmath=True, backend=b)(*values) for b in ("native", "numba"))
    for a, b in zip(native, numba):
        np.testing.assert_array_equal(a, b)


def test_a_cached_kernel_loads_without_simplifying_or_generating(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path))
    x = sd.tensor("x", ("n",))
    y = sd.sum(sd.tanh(x) * 2.0)
    first, second = sd.compile([x], y), sd.compile([x], y)
    assert first._generated.cache_info().currsize == 1  # built: simplified and generated once
    assert second._generated.cache_info().currsize == 0 and second.module._native_cache_hit
    assert second(np.arange(3.0)) == first(np.arange(3.0))
    assert second.source == first.source  # generated on demand, the same text


def test_ctrl_c_during_a_compile_waits_for_llvm_then_interrupts(tmp_path, monkeypatch, ctrl_c_raises):
    # an interrupt inside llvmlite could split the freeing of an LLVM object: a double free aborted the process later
    import signal

    from symdiff.codegen.llvm import build

    monkeypatch.setenv("SYMDIFF_CACHE_DIR", str(tmp_path))
    emitted, emit = [], build.object_code

    def interrupted_emit(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while LLVM works
        emitted.append(emit(*args, **kwargs))
        return emitted[-1]

    monkeypatch.setattr(build, "object_code", interrupted_emit)
    x = sd.tensor("x_interrupted", ("n",))  # a graph no other test compiles: no function to reuse
    with pytest.raises(KeyboardInterrupt):
        sd.compile([x], sd.sum(sd.exp(x) * 3.0))
    assert len(emitted) == 1  # the object was finished before the interrupt was raised
    assert sd.compile([x], sd.sum(sd.exp(x) * 3.0))(np.zeros(2)) == 6.0


def test_the_cache_key_holds_what_ops_made_at_run_time_compute():
    from symdiff import nn
    from symdiff.compile import graph_key
    from symdiff.ops import OPS

    try:
        cube = nn.elementwise("cube_for_key", "x**3")
        x = sd.tensor("x", (2,))
        key = graph_key([x], [cube(x)], [], {})
        assert "user.cube_for_key=" in key and "Pow" in key and "3" in key
    finally:
        OPS.pop("user.cube_for_key", None)
        nn.custom._MODULES.pop("cube_for_key", None)
        nn.ACTIVATIONS.pop("cube_for_key", None)


def _workspace_accesses(kernel):
    """Every load and store of a workspace buffer in ``kernel``: (array, index) pairs."""
    from symdiff.codegen import kir, kir_walks

    found = []
    for function in kernel.functions:
        for statement in kir_walks.walk(function.body):
            if isinstance(statement, kir.Store):
                found.append((statement.array, statement.index))
            for expression in kir_walks.expressions(statement):
                found += [(e.array, e.index) for e in kir_walks.sub_expressions(expression) if isinstance(e, kir.Load)]
    return [(array, index) for array, index in found if array.name.startswith("_ws_")]


@pytest.mark.parametrize("fastmath", [False, True])
def test_workspace_slots_are_alias_scopes_for_llvm(fastmath):
    # A fused loop reading and writing a dozen intermediates of one workspace buffer: LLVM vectorizes it only if
    # told they never overlap (past eight pairs it will not check at run time). Each slot is a scope, and the
    # workspaces (the wrapper's own buffers) alias no argument; fast-math kernels keep Numba's view of memory, so
    # the two backends still round alike.
    from llvmlite import ir

    from symdiff.codegen.llvm.build import llvm_module
    from symdiff.codegen.llvm.unit import Unit

    x, w = sd.tensor("x", ("batch", 6, 6, 2)), sd.tensor("w", (3, 3, 2, 4))
    loss = sd.sum(sd.max_pool2d(sd.relu(sd.conv2d(x, w, padding="same"))) ** 2)
    fn = sd.compile([x, w], loss, {w: w - 0.1 * sd.grad(loss, w)}, fastmath=fastmath)
    kernel = fn._generated().kernel
    accesses = _workspace_accesses(kernel)
    unit = Unit(ir.Module(), kernel)
    tagged = [unit.alias_tags(array, index) for array, index in accesses]
    text = str(llvm_module(kernel))
    signature = next(line for line in text.splitlines() if line.startswith('define i32 @"symdiff_kernel"'))
    if fastmath:
        assert not any(tagged) and "noalias" not in signature
        return
    assert accesses and all(tagged), "every workspace access is within one slot"
    assert len({id(scope) for scope, _ in tagged}) == len(set(kernel.regions.values())) > 2  # one scope a slot
    assert text.count("!alias.scope") > 10 and text.count("!noalias") > 10
    assert signature.count("noalias") == len({dtype for dtype, _ in kernel.regions.values()})  # the workspaces
