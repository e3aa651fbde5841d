"""symdiff's fast transcendental functions (codegen/fastlib.py), as compiled kernels run them.

The functions are written once in the kernel IR; the native backend lowers them into LLVM, the Numba printer
writes them as plain functions of the exported module. Accuracy and IEEE edge cases are checked on the native
backend over large samples, the Numba backend against it bit for bit, and the optimized native loop for
vectorization without libm calls.
"""
import math
import re

import numpy as np
import pytest

import symdiff as sd
from symdiff.codegen.fastlib import FLOAT32_NAMES, NAMES

LD = np.longdouble
HAVE_LD = np.finfo(LD).nmant >= 63          # x86 80-bit long double


# ---------------------------------------------------------------- helpers
def _ordered(a):
    # float64 bits -> int64 that is monotonic in the float value (+0 == -0)
    i = np.ascontiguousarray(a, dtype=np.float64).view(np.int64)
    return np.where(i < 0, np.int64(-(2 ** 63)) - i, i)


def ulp_dist(a, b):
    """Distance in units in the last place (bit steps); nan == nan, nan != x."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ia, ib = _ordered(a), _ordered(b)
    with np.errstate(over="ignore"):
        d = np.abs(ia - ib).astype(np.float64)
    far = np.abs(ia.astype(np.float64) - ib.astype(np.float64))
    d = np.where(far > 2.0 ** 52, far, d)   # int64 subtraction may wrap when far apart
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    d[nan_a & nan_b] = 0.0
    d[nan_a ^ nan_b] = np.inf
    return d


def ulp_dist32(a, b):
    ia = np.ascontiguousarray(a, dtype=np.float32).view(np.int32).astype(np.int64)
    ib = np.ascontiguousarray(b, dtype=np.float32).view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(2 ** 31) - ia, ia)
    ib = np.where(ib < 0, -(2 ** 31) - ib, ib)
    d = np.abs(ia - ib).astype(np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    d[nan_a & nan_b] = 0.0
    d[nan_a ^ nan_b] = np.inf
    return d


def same(a, b):
    """Exact equality including the sign of zero; nan matches nan."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return (np.isnan(a) & np.isnan(b)) | ((a == b) & (np.signbit(a) == np.signbit(b)))


_KERNELS = {}


def kernel_for(name, backend="native", dtype="float64", fastmath=False):
    """The compiled kernel ``out = <name>(x)`` over a named dim (one per configuration, cached)."""
    key = (name, backend, dtype, fastmath)
    if key not in _KERNELS:
        x = sd.tensor("x", ("n",), dtype)
        _KERNELS[key] = sd.compile([x], getattr(sd, name)(x), backend=backend, fastmath=fastmath)
    return _KERNELS[key]


def run(name, x, **options):
    with np.errstate(all="ignore"):
        return kernel_for(name, **options)(np.ascontiguousarray(x))


# ---------------------------------------------------------------- references
def _ld(fn):
    def ref(x):
        with np.errstate(all="ignore"):
            return fn(np.asarray(x, dtype=np.float64).astype(LD)).astype(np.float64)
    return ref


def _np_sigmoid(x):  # float64 fallback reference when there is no long double
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


NUMPY_REF = {
    "exp": np.exp, "log": np.log, "tanh": np.tanh, "log1p": np.log1p, "expm1": np.expm1,
    "softplus": lambda x: np.logaddexp(0.0, x),
    # NumPy has no sigmoid; scipy's expit flushes results below ~1e-308 to 0,
    # so the "NumPy" reference is the long double one (correctly rounded)
    "sigmoid": (_ld(lambda x: 1 / (1 + np.exp(-x))) if HAVE_LD else _np_sigmoid),
}
LD_REF = {
    "exp": _ld(np.exp), "log": _ld(np.log), "tanh": _ld(np.tanh),
    "log1p": _ld(np.log1p), "expm1": _ld(np.expm1),
    "sigmoid": _ld(lambda x: 1 / (1 + np.exp(-x))),
    "softplus": _ld(lambda x: np.logaddexp(LD(0), x)),
}


def numpy_ref(name, x):
    with np.errstate(all="ignore"):
        return np.asarray(NUMPY_REF[name](np.asarray(x, dtype=np.float64)), dtype=np.float64)


# ---------------------------------------------------------------- samples
def _logu(rng, lo, hi, n, signed=True):
    m = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    return m * rng.choice([-1.0, 1.0], n) if signed else m


def samples(name):
    rng = np.random.default_rng(1234 + NAMES.index(name))
    tiny, huge = 5e-324, 1.7976931348623157e308
    full = _logu(rng, tiny, huge, 40_000)          # whole double range, both signs
    if name == "exp":
        parts = [_logu(rng, tiny, 746.0, 100_000), rng.uniform(-745.2, 709.8, 60_000)]
    elif name == "expm1":
        parts = [_logu(rng, tiny, 710.0, 100_000), rng.uniform(-1.0, 1.0, 60_000)]
    elif name == "log":
        parts = [_logu(rng, tiny, huge, 140_000, signed=False), rng.uniform(0.5, 2.0, 20_000)]
    elif name == "log1p":
        parts = [_logu(rng, tiny, huge, 70_000, signed=False),
                 -_logu(rng, tiny, 1.0, 50_000, signed=False), rng.uniform(-1.0, 2.0, 40_000)]
    else:  # tanh, sigmoid, softplus
        parts = [_logu(rng, tiny, 800.0, 120_000), rng.uniform(-40.0, 40.0, 40_000)]
    return np.concatenate([full] + parts)


# ---------------------------------------------------------------- accuracy
@pytest.mark.parametrize("name", NAMES)
def test_accuracy_vs_numpy(name):
    x = samples(name)
    got = run(name, x)
    err = ulp_dist(got, numpy_ref(name, x))
    i = int(np.argmax(err))
    print(f"{name}: max ulp vs numpy {err.max():.0f} at x={x[i]!r}")
    assert err.max() <= 2, (name, x[i], got[i])


@pytest.mark.skipif(not HAVE_LD, reason="needs 80-bit long double reference")
@pytest.mark.parametrize("name", NAMES)
def test_accuracy_vs_long_double(name):
    # against a (nearly) correctly rounded reference the error is below 1 ulp
    x = samples(name)
    got = run(name, x)
    err = ulp_dist(got, LD_REF[name](x))
    i = int(np.argmax(err))
    assert err.max() <= 1, (name, x[i], got[i])


def test_exp_subnormal_results():
    # exp near -708..-745 gives subnormals: no flush to zero, <= 1 ulp
    x = np.linspace(-745.2, -708.0, 50_001)
    got = run("exp", x)
    ref = np.exp(x)
    assert ulp_dist(got, ref).max() <= 1
    assert np.array_equal(got > 0, ref > 0)
    got_s = run("sigmoid", x)
    assert ulp_dist(got_s, ref).max() <= 1        # sigmoid(x) == exp(x) there


# ---------------------------------------------------------------- edge cases
INF, NAN = math.inf, math.nan
MIN_NORMAL, MAX = 2.2250738585072014e-308, 1.7976931348623157e308
EDGES = {
    "exp": [0.0, -0.0, INF, -INF, NAN, 1.0, -1.0, 5e-324, -5e-324, 1e-320, -1e-310,
            709.782712893384, 709.7827128933841, 709.79, 710.0, 1000.0, MAX,
            -708.3964185322641, -708.3964185322642, -708.5, -710.0, -720.0, -730.0,
            -740.0, -744.4400719213812, -745.0, -745.1332191019411, -745.1332191019412,
            -745.2, -746.0, -1000.0, -MAX],
    "log": [0.0, -0.0, -1.0, -INF, -5e-324, INF, NAN, 1.0, 2.0, 0.5, math.e, 5e-324,
            1e-323, 1e-310, 2.225073858507201e-308, MIN_NORMAL, MAX,
            np.nextafter(1.0, 0.0), np.nextafter(1.0, 2.0)],
    "log1p": [-1.0, np.nextafter(-1.0, -2.0), -2.0, -INF, INF, NAN, 0.0, -0.0, 5e-324,
              -5e-324, 1e-300, -1e-300, 1e-17, -1e-17, np.nextafter(-1.0, 0.0), -0.5,
              1.0, MAX, 2.0 ** 53],
    "expm1": [0.0, -0.0, INF, -INF, NAN, 709.782712893384, 709.7827128933841, 709.79,
              -40.0, -1000.0, -MAX, MAX, 5e-324, -5e-324, 1e-300, -1e-300, 1e-10,
              -1e-10, 0.3, -0.3, 1.0, -1.0],
    "tanh": [0.0, -0.0, INF, -INF, NAN, 5e-324, -5e-324, 1e-300, -1e-300, 1e-10,
             3.7e-9, 19.0, 19.1, 22.0, 25.0, -25.0, 1e300, -1e300, MAX, -MAX, 0.5,
             1.0, -1.0],
    "sigmoid": [-INF, INF, NAN, 0.0, -0.0, 5e-324, -5e-324, 1.0, -1.0, 37.0, 40.0,
                -37.0, -40.0, 800.0, -800.0, -710.0, -745.0, -745.2, MAX, -MAX],
    "softplus": [-INF, INF, NAN, 0.0, -0.0, 5e-324, 1.0, -1.0, 37.0, 40.0, -37.0,
                 -40.0, 800.0, -800.0, -740.0, MAX, -MAX, 1e-20, -1e-20],
}
# values that must hold exactly (checked in addition to equality with NumPy)
MUST = {
    "exp": [(709.782712893384, 1.7976931348622732e308), (709.79, INF), (-INF, 0.0),
            (-745.1332191019411, 5e-324), (-745.1332191019412, 0.0), (NAN, NAN)],
    "log": [(0.0, -INF), (-0.0, -INF), (-1.0, NAN), (INF, INF), (1.0, 0.0),
            (5e-324, -744.4400719213812)],
    "log1p": [(-1.0, -INF), (-2.0, NAN), (-0.0, -0.0), (0.0, 0.0), (INF, INF)],
    "expm1": [(-0.0, -0.0), (-INF, -1.0), (INF, INF), (709.79, INF)],
    "tanh": [(-0.0, -0.0), (INF, 1.0), (-INF, -1.0), (25.0, 1.0), (-25.0, -1.0)],
    "sigmoid": [(-INF, 0.0), (INF, 1.0), (0.0, 0.5), (NAN, NAN)],
    "softplus": [(-INF, 0.0), (INF, INF), (800.0, 800.0), (-800.0, 0.0), (NAN, NAN)],
}


def edge_expected(name, x):
    # np.logaddexp is itself up to 1 ulp off (e.g. at x=-1), so sigmoid and
    # softplus use the correctly rounded long double reference when available
    if name in ("sigmoid", "softplus") and HAVE_LD:
        return LD_REF[name](x)
    return numpy_ref(name, x)


@pytest.mark.parametrize("name", NAMES)
def test_edge_cases_match_numpy(name):
    x = np.array(EDGES[name], dtype=np.float64)
    got = run(name, x)
    ref = numpy_ref(name, x)
    # special inputs/outputs (inf, nan, zeros, subnormals, overflow and
    # underflow thresholds) must be identical to NumPy, sign of zero included
    special = (~np.isfinite(x) | (x == 0) | (np.abs(x) < MIN_NORMAL)
               | ~np.isfinite(ref) | (np.abs(ref) < MIN_NORMAL))
    if name in ("sigmoid", "softplus") and HAVE_LD:
        ref = LD_REF[name](x)      # np.logaddexp itself is 1 ulp off at x=-1
    bad = special & ~same(got, ref)
    assert not bad.any(), [(x[i], got[i], ref[i]) for i in np.flatnonzero(bad)]
    # ordinary values (incl. saturation of tanh/sigmoid): within 1 ulp of NumPy
    # and of the correctly rounded long double result.  (NumPy/glibc itself is
    # 1 ulp off at e.g. expm1(1.0) and tanh(19.0); these functions are not.)
    assert ulp_dist(got, ref).max() <= 1
    if HAVE_LD:
        assert ulp_dist(got, LD_REF[name](x)).max() <= 1


@pytest.mark.parametrize("name", NAMES)
def test_edge_cases_documented_values(name):
    x = np.array([p[0] for p in MUST[name]])
    want = np.array([p[1] for p in MUST[name]])
    got = run(name, x)
    bad = ~same(got, want)
    assert not bad.any(), [(x[i], got[i], want[i]) for i in np.flatnonzero(bad)]


# ---------------------------------------------------------------- the two backends, dtypes, flags
@pytest.mark.parametrize("name", NAMES)
def test_numba_backend_computes_the_same_bits(name):
    # the printed functions are the IR's, operation for operation
    rng = np.random.default_rng(7)
    x = np.concatenate([np.array(EDGES[name]), _logu(rng, 1e-30, 800.0, 300), rng.uniform(-3, 3, 100)])
    got, want = run(name, x, backend="numba"), run(name, x)
    bad = ~same(got, want)
    assert not bad.any(), [(x[i], got[i], want[i]) for i in np.flatnonzero(bad)]


def _float32_samples(name):
    """Random float32 bit patterns (every binade, both signs, specials) and the range where the function varies."""
    rng = np.random.default_rng(32 + NAMES.index(name))
    patterns = rng.integers(0, 2 ** 32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    edges = np.array([0.0, -0.0, INF, -INF, NAN, 88.72283, 88.72284, 88.8, 89.0, -87.33654, -103.97, -104.0,
                      -150.0, 1e-40, -1e-40, 0.625, -0.625, 9.0, 9.1, -9.1, 3.4e38, -3.4e38], np.float32)
    return np.concatenate([edges, patterns, rng.uniform(-110.0, 90.0, 100_000).astype(np.float32)])


#: Largest error (float32 ulp, against the correctly rounded value) of each float32 fast function: exp and tanh
#: round like the float64 path does, sigmoid's exp(-|x|) / (1 + exp(-|x|)) rounds three times.
FLOAT32_ULP = {"exp": 1, "tanh": 1, "sigmoid": 3}


@pytest.mark.parametrize("name", sorted(FLOAT32_ULP))
def test_float32_functions_in_float32_lanes(name):
    # exp, tanh and sigmoid have float32 algorithms of their own (twice the SIMD lanes of float64); both backends
    # run the same operations, so the same bits
    assert set(FLOAT32_ULP) == set(FLOAT32_NAMES)
    x = _float32_samples(name)
    out = run(name, x, dtype="float32")
    assert out.dtype == np.float32
    with np.errstate(all="ignore"):
        ref = numpy_ref(name, x.astype(np.float64)).astype(np.float32)
    errors = ulp_dist32(out, ref)
    assert errors.max() <= FLOAT32_ULP[name], [(x[i], out[i], ref[i]) for i in np.argsort(-errors)[:3]]
    numba = run(name, x, dtype="float32", backend="numba")
    assert same(numba, out).all()
    zeros = run(name, np.array([0.0, -0.0], np.float32), dtype="float32")
    assert np.signbit(zeros).tolist() == ([False, True] if name == "tanh" else [False, False])


@pytest.mark.parametrize("name", sorted(set(NAMES) - set(FLOAT32_NAMES)))
def test_float32_arrays_of_float64_functions(name):
    # the others compute float32 arguments in float64, rounded once
    x = samples(name)[::20]
    with np.errstate(all="ignore"):
        x32 = x.astype(np.float32)
    out = run(name, x32, dtype="float32")
    assert out.dtype == np.float32
    with np.errstate(all="ignore"):
        ref = numpy_ref(name, x32.astype(np.float64)).astype(np.float32)
    assert ulp_dist32(out, ref).max() <= 1


@pytest.mark.parametrize("name", FLOAT32_NAMES)
def test_float32_loop_vectorizes_in_float32_lanes(name):
    x = sd.tensor("x", ("n",), "float32")
    llvm_ir = optimized_ir([getattr(sd, name)(x)], [x])
    assert LIBM_CALL.search(llvm_ir) is None, LIBM_CALL.search(llvm_ir).group(0)
    assert re.search(r"= f(?:add|mul)(?: [a-z]+)* <(?:8|16) x float>", llvm_ir), "not vectorized in float32 lanes"
    assert "fpext" not in llvm_ir  # no float64 detour


@pytest.mark.parametrize("name", NAMES)
def test_kernel_fastmath_flags_do_not_reach_the_functions(name):
    # the functions' own arithmetic carries no fast-math flags: fastmath=True kernels give the same bits
    x = np.concatenate([EDGES[name], samples(name)[::20]])
    got, want = run(name, x, fastmath=True), run(name, x)
    bad = ~same(got, want)
    assert not bad.any(), [(x[i], got[i], want[i]) for i in np.flatnonzero(bad)][:5]


# ---------------------------------------------------------------- vectorization
LIBM_CALL = re.compile(
    r"call[^\n]*@(?:llvm\.)?(?:exp|exp2|expm1|log|log2|log10|log1p|tanh|pow)"
    r"(?:f|l)?(?:\.v\d+f(?:32|64)|\.f(?:32|64))?\(")
VECTOR_FP = re.compile(r"= f(?:add|sub|mul|div)(?: [a-z]+)* <(\d+) x double>")


def optimized_ir(graph_outputs, inputs, **options) -> str:
    from symdiff import codegen
    from symdiff.codegen.llvm.build import llvm_module, optimized

    return str(optimized(llvm_module(codegen.generate(inputs, graph_outputs, [], name="f", **options).kernel)))


@pytest.mark.parametrize("name", NAMES)
def test_loop_vectorizes_without_libm_calls(name):
    x = sd.tensor("x", ("n",))
    llvm_ir = optimized_ir([getattr(sd, name)(x)], [x])
    assert LIBM_CALL.search(llvm_ir) is None, LIBM_CALL.search(llvm_ir).group(0)
    assert VECTOR_FP.search(llvm_ir), "loop was not vectorized"
    assert "fdiv <" in llvm_ir or name in ("exp", "expm1")   # divisions vectorized too


def test_loops_use_the_widest_vectors_of_the_host():
    # LLVM's tuning of AVX-512 CPUs prefers 256-bit vectors; the native backend asks for the full 512 bits
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    widest = 8 if "+avx512f" in llvm.get_host_cpu_features().flatten().split(",") else 4
    x = sd.tensor("x", ("n",))
    lanes = {int(n) for n in VECTOR_FP.findall(optimized_ir([sd.tanh(x)], [x]))}
    assert max(lanes) == widest, lanes


def test_vectorization_check_detects_libm():
    # control: the same check must reject the libm loop it is meant to replace
    x = sd.tensor("x", ("n",))
    llvm_ir = optimized_ir([sd.exp(x) + sd.tanh(x)], [x], libm=True)
    assert LIBM_CALL.search(llvm_ir) is not None


def test_exported_module_carries_the_functions_as_plain_numba_code():
    x = sd.tensor("x", ("n",))
    source = sd.compile([x], sd.tanh(x) + sd.exp(x), backend="native").source
    assert "def fast_tanh(x):" in source and "def fast_exp(x):" in source and "def fast_log(x):" not in source
    assert "IRBuilder" not in source and "intrinsic" in source  # two tiny intrinsics (bit cast, fma), no IR DSL
