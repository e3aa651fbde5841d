"""The LLVM target machine for this host, shared by the backends that emit machine code with llvmlite."""

from __future__ import annotations

import threading

import llvmlite.binding as llvm

#: Held while a kernel is compiled or loaded (LLVM's global context, process-wide symbols, Numba's import of
#: a cached module): compiling from several threads is safe, one compilation at a time.
COMPILE_LOCK = threading.RLock()


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
