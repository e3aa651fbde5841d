"""The LLVM target machine for this host, shared by the backends that emit machine code with llvmlite."""

from __future__ import annotations

import signal
import threading

import llvmlite.binding as llvm


class _CompileLock:
    """A reentrant lock that also holds Ctrl-C: in the main thread, a SIGINT arriving while it is held is delivered
    (KeyboardInterrupt) when the outermost holder releases it. An interrupt inside llvmlite can split the freeing
    of an LLVM object in two (a double free that aborts the process later)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # nesting of the owning thread
        self._held: tuple | None = None  # (the SIGINT handler replaced, the interrupts received meanwhile)

    def __enter__(self) -> None:
        self._lock.acquire()
        self._depth += 1
        previous = signal.getsignal(signal.SIGINT)
        if self._depth == 1 and threading.current_thread() is threading.main_thread() and callable(previous):
            received: list = []
            signal.signal(signal.SIGINT, lambda signum, frame: received.append(frame))
            self._held = (previous, received)

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        held = self._held if self._depth == 0 else None  # only the outermost holder gives SIGINT back
        if held:
            self._held = None
        self._lock.release()
        if held:
            previous, received = held
            signal.signal(signal.SIGINT, previous)
            if received:  # delivered now, to the handler it was meant for
                previous(signal.SIGINT, received[0])


#: Held while a kernel is compiled or loaded (LLVM's global context, process-wide symbols, Numba's import of
#: a cached module): compiling from several threads is safe, one compilation at a time, and Ctrl-C waits for it.
COMPILE_LOCK = _CompileLock()


def target_machine() -> llvm.TargetMachine:
    """A new target machine for this CPU (name and features: code is built for, and cached per, the host).
    Each MCJIT engine takes ownership of the machine it is given, so callers get a fresh one."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=host_features(), opt=3,
                                        codemodel="jitdefault")


def host_features() -> str:
    """This CPU's features, with vectors as wide as it has: LLVM's tuning of AVX-512 CPUs prefers 256-bit
    vectors (older cores slowed their clock for 512-bit ones), which halves the lanes of the transcendental
    loops of a step (tanh/exp/sigmoid: lstm step -10 to -15 % measured with 512-bit vectors)."""
    return llvm.get_host_cpu_features().flatten() + ",-prefer-256-bit"
