"""Where a compiled training step spends its time, section by section (a developer's tool; Linux ``perf`` needed).

The step of a model of ``cnn_rnn_peers.py`` is compiled natively with every section of its kernel in a function of
its own (the part budget set to one statement: the code of each section is what it is in the real kernel, only
called), and the functions exported so the engine can tell their addresses. The script then runs the step under
``perf record`` (software clock, all threads), writes ``/tmp/perf-<pid>.map`` so perf names the kernel's functions,
and prints microseconds per step for each section and for the libraries' hot symbols (BLAS's packing and kernels,
``memset``), the threads summed. Only the timed steps are recorded (perf starts disabled; the step loop enables it
through perf's control fifo), not the compile before them. Sampling attributes time to what runs: one run shows the
split that whole-step timings cannot. The machine's speed still moves every row (two runs of the same code differ
by ~10 % here): compare sections within one run, and runs only when their rows move together.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_sections.py cnn28 float32 [--steps 300]
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_sections.py mlp128 float64

The compile cache is bypassed (a fresh ``SYMDIFF_CACHE_DIR``): a kernel from the cache was built with its usual
parts. The idle spin of OpenBLAS's worker threads (``blas_thread_server``) is reported apart: it is CPU time, not
step time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from common import environment_report

#: Sampling rate of perf's software clock (samples per second per thread).
FREQUENCY = 4000
#: Symbols of OpenBLAS worker threads waiting for work: CPU time, not step time.
IDLE = ("blas_thread_server",)
#: The MLP sizes of ``mlp_peers.py`` this tool profiles (always float64, as that benchmark).
MLP_SIZES = {"mlp128": (128, 784, 256, 10), "mlp1024": (1024, 1024, 1024, 10)}


def _run_step(model: str, dtype: str, steps: int, scratch: Path) -> None:
    """In the process perf records: compile with one section per function, map them, run the step."""

    import symdiff.codegen.llvm.build as build
    import symdiff.codegen.module as module
    import symdiff.codegen.objcache as objcache
    from symdiff.codegen import kir

    module.PART_BUDGET = 1
    seen: dict[str, object] = {}
    lower, load_engine, llvm_module = build.lower_kernel, objcache.load_engine, build.llvm_module

    def exported(llvm, kernel, *args, **kwargs):
        unit = lower(llvm, kernel, *args, **kwargs)
        for function in unit.functions.values():
            function.linkage = ""  # external: the engine can tell its address
        return unit

    def keep_kernel(kernel, *args, **kwargs):
        seen["kernel"] = kernel
        return llvm_module(kernel, *args, **kwargs)

    def keep_engine(obj, machine):
        seen["engine"] = load_engine(obj, machine)
        return seen["engine"]

    build.lower_kernel, build.llvm_module, objcache.load_engine = exported, keep_kernel, keep_engine
    run = _step(model, dtype)
    kernel, engine = seen["kernel"], seen["engine"]
    places = []
    for k, function in enumerate(kernel.functions):
        symbol = "symdiff_kernel" if k == 0 else f"symdiff_kernel_{function.name}"
        heading = next((s.text for s in function.body if isinstance(s, kir.Comment)), "kernel entry")
        places.append((engine.get_function_address(symbol), function.name, heading))
    places.sort()
    map_path = Path(f"/tmp/perf-{os.getpid()}.map")  # perf's convention for JIT code
    (scratch / "map").write_text(str(map_path))
    with open(map_path, "w") as perf_map:
        for (address, name, _), following in zip(places, places[1:] + [(places[-1][0] + (1 << 16), "", "")]):
            perf_map.write(f"{address:x} {following[0] - address:x} {name}\n")
    (scratch / "labels.tsv").write_text("".join(f"{name}\t{heading}\n" for _, name, heading in places))
    for _ in range(10):
        run()
    with open(scratch / "ctl", "w", buffering=1) as control, open(scratch / "ack") as ack:
        control.write("enable\n")
        ack.readline()
        start = time.perf_counter()
        for _ in range(steps):
            run()
        elapsed = time.perf_counter() - start
        control.write("disable\n")
        ack.readline()
    print(f"{model} {dtype}: {elapsed / steps * 1e6:.0f} us per step (under perf)")


def _step(model: str, dtype: str):
    """A zero-argument training step of ``model``: an MLP size of ``mlp_peers.py`` (float64) or a
    ``cnn_rnn_peers.py`` model."""
    if model in MLP_SIZES:
        from mlp_peers import LEARNING_RATE, make_problem
        from mlp_symdiff import make_symdiff_step

        return make_symdiff_step(make_problem(*MLP_SIZES[model]), LEARNING_RATE)
    from cnn_rnn_peers import make_problem, symdiff_step

    return symdiff_step(model, make_problem(model, dtype))[0]


def _report(data: Path, labels: Path, steps: int, top: int) -> None:
    headings = dict(line.split("\t", 1) for line in labels.read_text().splitlines())
    text = subprocess.run(["perf", "report", "-i", str(data), "-n", "--no-children", "--sort", "sym", "-g", "none",
                           "--percent-limit", "0"], capture_output=True, text=True, check=True).stdout
    per_step: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0].endswith("%") and fields[2] in ("[.]", "[k]"):
            per_step[" ".join(fields[3:])] += int(fields[1]) / FREQUENCY / steps * 1e6
    idle = sum(per_step.pop(name, 0.0) for name in IDLE)
    kernel = {name: us for name, us in per_step.items() if name in headings}
    print(f"\nus per step (all threads; {idle:.0f} us of idle BLAS worker spin left out)")
    total = sum(per_step.values())
    print(f"  kernel sections: {sum(kernel.values()):.0f}   everything else: {total - sum(kernel.values()):.0f}")
    for name, us in sorted(per_step.items(), key=lambda item: -item[1])[:top]:
        print(f"{us:8.0f}  {name:12s} {headings.get(name, '').strip()[:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=("cnn8", "cnn28", "rnn", "lstm", *MLP_SIZES))
    parser.add_argument("dtype", choices=("float32", "float64"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--top", type=int, default=25, help="rows of the table (default 25)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the recorded process: its scratch directory
    args = parser.parse_args()
    if args.child:  # run as a script too: this directory (common, cnn_rnn_peers) is on its path
        _run_step(args.model, args.dtype, args.steps, Path(args.child))
        return
    with tempfile.TemporaryDirectory() as name:
        scratch = Path(name)
        os.mkfifo(scratch / "ctl")
        os.mkfifo(scratch / "ack")
        env = dict(os.environ, SYMDIFF_CACHE_DIR=str(scratch / "cache"))
        subprocess.run(["perf", "record", "-q", "-D", "-1", "--control", f"fifo:{scratch / 'ctl'},{scratch / 'ack'}",
                        "-e", "cpu-clock", "-F", str(FREQUENCY), "-o", str(scratch / "perf.data"), sys.executable,
                        __file__, args.model, args.dtype, "--steps", str(args.steps), "--child", str(scratch)],
                       env=env, check=True)
        _report(scratch / "perf.data", scratch / "labels.tsv", args.steps, args.top)
        Path((scratch / "map").read_text()).unlink()
    print("\n" + environment_report())


if __name__ == "__main__":
    main()
