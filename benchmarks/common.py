"""Shared benchmark machinery: thread pinning, timing, an environment report, a results table.

Benchmarks on a small shared machine are fragile: two BLAS thread pools (or a BLAS pool and
another process) competing for the same cores turned a 2.7 ms step into 48 ms here. So the
rules are: pin every library's thread count explicitly before importing it, run one thing
at a time, warm up, and report the best of several repeats.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence

# Variables each threaded library reads once, when it is loaded.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Variables that change which OpenBLAS kernels run (forcing them is what makes BLAS slow here).
BLAS_KERNEL_ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
XLA_SINGLE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
REPORTED_PACKAGES = ("numpy", "scipy", "numba", "torch", "jax", "jaxlib", "threadpoolctl")


def usable_cores() -> int:
    """Number of cores this process may run on (its CPU affinity), not the machine's total."""
    return len(os.sched_getaffinity(0))


def thread_count() -> int:
    """Thread count every library should use: the one set by `pin_threads`, else all usable cores."""
    return int(os.environ.get("OMP_NUM_THREADS", usable_cores()))


def pin_threads(n: int) -> None:
    """Make NumPy's BLAS, PyTorch (OpenMP/MKL) and XLA each use `n` threads.

    Sets the environment variables the libraries read at load time, so call this before
    importing torch or jax; BLAS pools already loaded (NumPy's OpenBLAS) are limited through
    threadpoolctl, and torch too if it is already imported. XLA can only be told "one thread"
    or "all cores", so for 1 < n < usable_cores() it keeps one thread per core.
    """
    if not 1 <= n <= usable_cores():
        raise ValueError(f"pin_threads: n must be between 1 and usable_cores()={usable_cores()}, got {n}")
    if "jax" in sys.modules:
        raise RuntimeError("pin_threads must run before jax is imported: XLA reads XLA_FLAGS once, at import")
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(n)
    if n == 1:
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_SINGLE_THREAD_FLAGS}".strip()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)  # not used as a context manager: the limit stays for the process
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def fresh_process_env(**variables: str) -> dict[str, str]:
    """The environment for a benchmark's fresh process (a cold start), with ``variables`` set: this one's, but
    with Python's default of caching modules' bytecode in __pycache__ (this machine sets PYTHONDONTWRITEBYTECODE,
    which recompiles every imported module from source in every process, ~0.1 s a user never pays)."""
    env = dict(os.environ, **variables)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def time_call(fn: Callable[[], object], *, min_time: float = 0.2, repeats: int = 5) -> float:
    """Wall seconds per call of `fn`: the best over `repeats` timed batches of about `min_time` s each."""
    return time_calls({"fn": fn}, min_time=min_time, repeats=repeats)["fn"]


def time_calls(
    fns: Mapping[str, Callable[[], object]],
    *,
    min_time: float = 0.2,
    repeats: int = 5,
    settle: float = 0.1,
) -> dict[str, float]:
    """Seconds per call of each function: the best of `repeats` timed batches of about `min_time` s.

    Each function is warmed up (JIT compilation, caches, thread pools) and its calls per batch
    calibrated; then the batches run in rounds, one batch of each function per round, so a
    burst of outside load hits every function alike instead of skewing one of them. Only one
    function runs at a time, and `settle` seconds of sleep before each batch let the previous
    library's worker threads stop spinning (OpenBLAS and OpenMP threads busy-wait after a call).
    The best batch is the least-perturbed one: the figure to compare across libraries.
    """
    if min_time <= 0 or repeats < 1 or settle < 0:
        raise ValueError(f"time_calls: need min_time > 0, repeats >= 1, settle >= 0; "
                         f"got min_time={min_time}, repeats={repeats}, settle={settle}")
    calls = {name: _calibrate(fn, min_time, settle) for name, fn in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(settle)
            best[name] = min(best[name], _time_batch(fn, calls[name]) / calls[name])
    return best


def _calibrate(fn: Callable[[], object], min_time: float, settle: float) -> int:
    """Warm `fn` up and return how many calls take about `min_time` seconds."""
    time.sleep(settle)
    fn()  # the first call may compile: keep it out of the calibration
    calls = 1
    while (elapsed := _time_batch(fn, calls)) < min_time / 4:
        calls *= 2
    return max(1, round(calls * min_time / elapsed))


def _time_batch(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - start


class OtherLoad:
    """Measures how many cores other processes kept busy while a `with` block ran (Linux).

    Busy time of the whole machine (/proc/stat, including time the hypervisor stole) minus
    this process's own CPU time, divided by the wall time: 0 on a quiet machine, about 1 when
    another process kept one core busy. `cores` is set when the block exits.
    """

    cores: float

    def __enter__(self) -> OtherLoad:
        self._start = _machine_busy_seconds(), _own_cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        busy, own, wall = _machine_busy_seconds(), _own_cpu_seconds(), time.perf_counter()
        self.cores = max(0.0, (busy - self._start[0]) - (own - self._start[1])) / (wall - self._start[2])


def _machine_busy_seconds() -> float:
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def format_seconds(seconds: float) -> str:
    """Seconds as µs, with 3 significant digits below 1000 µs."""
    micros = seconds * 1e6
    return f"{micros:.3g}" if micros < 1000 else f"{micros:.0f}"


def table(
    rows: Mapping[str, Mapping[str, float | None]],
    columns: Sequence[str],
    *,
    baseline: str,
    title: str = "µs per call",
) -> str:
    """Render `rows[row][column]` (seconds, or None for "not measured") as a text table.

    Each cell is µs per call followed by its ratio to the `baseline` column of the same row
    (>1 means slower than the baseline).
    """
    if baseline not in columns:
        raise ValueError(f"table: baseline {baseline!r} must be one of the columns {list(columns)}")
    header = [title, *columns]
    body = [[row, *(_cell(values.get(col), values.get(baseline)) for col in columns)] for row, values in rows.items()]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [_join_aligned(line, widths) for line in [header, *body]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append(f"(ratio) = time / {baseline} time; '-' = peer not installed (or without the layers)")
    return "\n".join(lines)


def _join_aligned(cells: Sequence[str], widths: Sequence[int]) -> str:
    """First cell left-aligned (the row label), the others right-aligned (numbers)."""
    aligned = (text.rjust(width) if i else text.ljust(width) for i, (text, width) in enumerate(zip(cells, widths)))
    return "  ".join(aligned)


def _cell(seconds: float | None, baseline_seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if baseline_seconds is None:
        return format_seconds(seconds)
    return f"{format_seconds(seconds)} ({seconds / baseline_seconds:.2f}x)"


def environment_report() -> str:
    """What the numbers depend on: CPU, cores, load, package versions, BLAS pools and their settings.

    Thread pools are read from the libraries loaded in this process, so call it after the
    benchmark has imported them.
    """
    lines = [
        f"CPU: {_cpu_model()} | usable cores: {usable_cores()} | os.cpu_count(): {os.cpu_count()}",
        f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        " (above 0 means other work shared the cores)",
        f"Python {platform.python_version()} | " + " | ".join(f"{name} {_version(name)}" for name in REPORTED_PACKAGES),
    ]
    lines += _threadpool_lines()
    lines += _torch_lines() + _jax_lines()
    for var in (*BLAS_KERNEL_ENV_VARS, *THREAD_ENV_VARS, "XLA_FLAGS"):
        lines.append(f"{var}={os.environ[var]!r}" if var in os.environ else f"{var} not set")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what platform knows
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _threadpool_lines() -> list[str]:
    from threadpoolctl import threadpool_info

    return [
        f"thread pool: {pool['internal_api']} {pool.get('version') or ''} "
        f"kernel={pool.get('architecture', 'n/a')} threads={pool['num_threads']} ({os.path.basename(pool['filepath'])})"
        for pool in threadpool_info()
    ]


def _torch_lines() -> list[str]:
    if "torch" not in sys.modules:
        return []
    torch = sys.modules["torch"]
    blas = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return [f"torch: BLAS={blas.group(1) if blas else 'unknown'} (statically linked, not visible to threadpoolctl) "
            f"intra-op threads={torch.get_num_threads()} inter-op threads={torch.get_num_interop_threads()}"]


def _jax_lines() -> list[str]:
    if "jax" not in sys.modules:
        return []
    jax = sys.modules["jax"]
    return [f"jax: devices={jax.devices()} x64={jax.config.jax_enable_x64} (XLA uses its own Eigen/oneDNN kernels)"]

