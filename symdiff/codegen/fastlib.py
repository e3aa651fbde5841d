"""symdiff's vectorizable transcendental functions, written once in the kernel IR (kir.py).

``exp``, ``expm1``, ``log``, ``log1p``, ``tanh``, ``sigmoid`` (1/(1+exp(-x))) and ``softplus`` (log(1+exp(x)),
stable for any x), float64 in and out. They use only arithmetic, bit casts and selects (no calls, no branches), so
a loop calling them vectorizes, where libm's scalar calls would stop LLVM's vectorizer (PyPI llvmlite has no SVML).
Both lowerings read the same definitions: the LLVM lowering inlines them (as scalars or SIMD vectors), the Numba
printer writes them as plain functions of the exported module. ``exp``, ``tanh`` and ``sigmoid`` also have float32
algorithms (float32 lanes: twice as many per SIMD register, shorter polynomials); float32 arguments of the others
go through the float64 function (one extra rounding, <= 1 float32 ulp).

Accuracy: <= 1 ulp from the correctly rounded result (so <= 2 ulp from NumPy) over the whole double range,
usually correctly rounded. IEEE special cases match NumPy exactly: +-0 (sign kept: tanh/expm1/log1p(-0.0) =
-0.0), +-inf, nan, subnormal inputs, subnormal outputs (<= 1 ulp; exp double-rounds there), overflow / underflow
thresholds, log(0) = -inf, log(<0) = nan, log1p(-1) = -inf. Polynomials use fmuladd (an FMA where the CPU has
one), so results may differ by an ulp between FMA and non-FMA machines. float32: exp and tanh <= 1 ulp, sigmoid <= 3
ulp, with the same special cases (measured by tests/test_fastmath.py over random bit patterns).

Algorithms: exp/expm1: Cody-Waite reduction x = k*ln2 + r (k via the 1.5*2**52 rounding trick), a degree-12
polynomial for expm1(r), 2**k built from exponent bits, hi/lo (double-double) results for the composite
functions; log/log1p: fdlibm's s = f/(2+f) kernel, exponent and mantissa taken from the bit pattern; tanh =
expm1-based (fdlibm split), sigmoid/softplus on top of exp and log1p. float32: Cephes' expf and tanhf polynomials.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from . import kir

# Cody-Waite split of ln2: LN2_HI has 21 trailing zero bits so k*LN2_HI is exact
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e+00
SHIFT = 6755399441055744.0            # 1.5*2**52: x + SHIFT rounds x to an integer
SHIFT_BITS = 0x4338000000000000       # bits of SHIFT; low bits then hold the integer
EXP_ONE = 0x3ff0000000000000          # bits of 1.0
MANT_MASK = 0x000fffffffffffff
SQRT_HALF_BITS = 0x3fe6a09e667f3bcd   # bits of sqrt(0.5): mantissa range [sqrt(.5), sqrt(2))
LOG_OFF = EXP_ONE - SQRT_HALF_BITS
TWO52_BITS = 0x4330000000000000       # bits of 2**52, used for small int -> float
TWO52_P1023 = 4503599627371519.0      # 2**52 + 1023
TWO54 = 18014398509481984.0           # 2**54: rescales subnormal log arguments
MIN_NORMAL = 2.2250738585072014e-308

# expm1(r) = r + r^2/2 + r^3*P(r) on |r| <= 0.3466 (weighted least squares, rel err 2^-61)
E3, E4, E5, E6 = 0.16666666666666677, 0.0416666666666666, 0.008333333333321521, 0.001388888888892797
E7, E8, E9 = 0.00019841269886340576, 2.4801587228197928e-05, 2.7557244036215014e-06
E10, E11, E12 = 2.755736146995893e-07, 2.510908640959904e-08, 2.088671560288274e-09

# fdlibm log kernel: R(z) ~ log((1+s)/(1-s)) correction, |err| < 2^-58.45
LG1, LG2, LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
LG4, LG5, LG6 = 2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01
LG7 = 1.479819860511658591e-01


class V:
    """A float64/float32/int64/int32/bool IR expression whose Python operators build IR, so the algorithms read like the
    scalar code they are. Python numbers mixed in become constants of the other operand's dtype."""

    __slots__ = ("e",)

    def __init__(self, e: kir.Expr) -> None:
        self.e = e

    def _bin(self, name: str, other, swap: bool = False) -> V:
        b = other.e if isinstance(other, V) else kir.const(other, self.e.dtype)
        return V(kir.op(name, b, self.e) if swap else kir.op(name, self.e, b))

    def __add__(self, o): return self._bin("add", o)  # noqa: E704
    def __radd__(self, o): return self._bin("add", o, True)  # noqa: E704
    def __sub__(self, o): return self._bin("sub", o)  # noqa: E704
    def __rsub__(self, o): return self._bin("sub", o, True)  # noqa: E704
    def __mul__(self, o): return self._bin("mul", o)  # noqa: E704
    def __rmul__(self, o): return self._bin("mul", o, True)  # noqa: E704
    def __truediv__(self, o): return self._bin("div", o)  # noqa: E704
    def __rtruediv__(self, o): return self._bin("div", o, True)  # noqa: E704
    def __and__(self, o): return self._bin("bitand", o)  # noqa: E704
    def __lshift__(self, o): return self._bin("shl", o)  # noqa: E704
    def __rshift__(self, o): return self._bin("shr", o)  # noqa: E704
    def __lt__(self, o): return self._bin("lt", o)  # noqa: E704
    def __le__(self, o): return self._bin("le", o)  # noqa: E704
    def __gt__(self, o): return self._bin("gt", o)  # noqa: E704
    def __ge__(self, o): return self._bin("ge", o)  # noqa: E704
    def __eq__(self, o): return self._bin("eq", o)  # noqa: E704

    __hash__ = None

    def __bool__(self):
        raise TypeError("an IR value has no truth value: use where()")

    def __neg__(self) -> V:
        return V(kir.op("neg", self.e))

    def __abs__(self) -> V:
        return V(kir.op("abs", self.e))

    def bits(self) -> V:
        """The bits of a float64 (float32) as int64 (int32): free, vectorizes."""
        return V(kir.Bitcast(self.e, _BITS[self.e.dtype]))

    def real(self) -> V:
        """int64 (int32) bits reinterpreted as a float64 (float32)."""
        return V(kir.Bitcast(self.e, _REAL[self.e.dtype]))


_BITS = {"float64": "int64", "float32": "int32"}
_REAL = {"int64": "float64", "int32": "float32"}


def where(test: V, yes, no) -> V:
    """``yes if test else no`` as a select: no branch, both arms computed (all cheap and side-effect free)."""
    dtype = (yes if isinstance(yes, V) else no).e.dtype
    values = [v.e if isinstance(v, V) else kir.const(v, dtype) for v in (yes, no)]
    return V(kir.select(test.e, *values))


def fma(a, b, c) -> V:
    """``a*b + c``, fused where the CPU can (polynomials only; the error-free transformations never use it)."""
    dtype = next(v.e.dtype for v in (a, b, c) if isinstance(v, V))
    return V(kir.op("fmuladd", *(v.e if isinstance(v, V) else kir.const(v, dtype) for v in (a, b, c))))


def _pow2(k: V) -> V:
    # 2.0**k from exponent bits, valid for normal results: -1022 <= k <= 1023 (int64 k), -126 <= k <= 127 (int32 k)
    bias, mantissa = _EXPONENT[k.e.dtype]
    return ((k + bias) << mantissa).real()


_EXPONENT = {"int64": (1023, 52), "int32": (127, 23)}  # exponent bias, mantissa bits of float64 / float32


def _expm1_tail(r: V) -> V:
    # expm1(r) - r for |r| <= ln2/2; Estrin form: short dependency chains keep the vectorized loop
    # throughput-bound instead of latency-bound
    r2 = r * r
    r4 = r2 * r2
    a, b, c = fma(E4, r, E3), fma(E6, r, E5), fma(E8, r, E7)
    d, e = fma(E10, r, E9), fma(E12, r, E11)
    p = fma(r4, fma(r4, e, fma(d, r2, c)), fma(b, r2, a))
    return r2 * fma(r, p, 0.5)


def _reduce(x: V):
    # x = k*ln2 + r + rc with |r| <= ln2/2; k as float and int, rc = rounding of r
    kd = x * INV_LN2 + SHIFT
    ki = kd.bits() - SHIFT_BITS
    kd = kd - SHIFT
    hi = x - kd * LN2_HI               # exact (Sterbenz)
    lo = kd * LN2_LO
    r = hi - lo
    rc = (hi - r) - lo
    return kd, ki, r, rc


def _exp_dd(x: V) -> tuple[V, V]:
    # exp(x) as an unevaluated sum hi + lo (lo ~ rounding error of hi); any x
    x = where(x > 709.9, 709.9, x)     # clamp keeps k in range; nan passes through
    x = where(x < -746.0, -746.0, x)   # exp(-746) already rounds to 0
    kd, ki, r, rc = _reduce(x)
    q = _expm1_tail(r)
    s = 1.0 + r                        # Fast2Sum: s + es == 1 + r exactly
    es = (1.0 - s) + r
    rest = es + (q + rc * (s + q))     # rc term: exp(r + rc) ~ exp(r) * (1 + rc)
    y = s + rest
    yl = (s - y) + rest
    # scale by 2**k in two halves (k1 = round(k/2) via the shift trick): handles k = 1024 and subnormal results,
    # where only the last multiply rounds
    k1 = (kd * 0.5 + SHIFT).bits() - SHIFT_BITS
    sc1, sc2 = _pow2(k1), _pow2(ki - k1)
    return (y * sc1) * sc2, (yl * sc1) * sc2


def _expm1_dd(x: V) -> tuple[V, V]:
    # expm1(x) as hi + lo for -40 <= x <= 709.9 (no sign-of-zero handling)
    kd, ki, r, rc = _reduce(x)
    q = _expm1_tail(r)
    kc = where(ki > 60, 60, ki)        # 2**kc - 1 is exact or rounds harmlessly
    two = _pow2(kc)
    # 2**k * expm1(r) + (2**k - 1): add the exact parts with Fast2Sum
    a = two - 1.0
    b = two * r
    s = a + b
    es = (a - s) + b                   # |a| >= |b| or a == 0, so this is exact
    rest = es + two * (q + rc * (1.0 + r + q))
    y = s + rest
    yl = (s - y) + rest
    sc = _pow2(ki - kc)                # 1 unless k > 60
    return y * sc, yl * sc


def _log_parts(u: V) -> tuple[V, V]:
    # u = 2**k * (1 + f), 1 + f in [sqrt(.5), sqrt(2)); u positive normal
    t = u.bits() + LOG_OFF
    kb = (t >> 52) & 0x7ff             # biased k; the mask turns it into lshr
    m = ((t & MANT_MASK) + SQRT_HALF_BITS).real()
    kd = (kb + TWO52_BITS).real() - TWO52_P1023  # int -> float without cvtqq
    return kd, m - 1.0


def _log_finish(kd: V, f: V, c) -> V:
    # fdlibm: log(2**k * (1 + f) + small), c = small / u correction
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * fma(w, fma(w, LG6, LG4), LG2)
    t2 = z * fma(w, fma(w, fma(w, LG7, LG5), LG3), LG1)
    rr = t2 + t1
    return kd * LN2_HI - ((hfsq - (s * (hfsq + rr) + (kd * LN2_LO + c))) - f)


def _log1p_kernel(x: V, xl) -> V:
    # log1p(x + xl) for x > -1 (specials handled by callers), xl a tiny low part
    u = 1.0 + x
    c1 = 1.0 - (u - x)                 # rounding error of u, exact for x >= 1
    c2 = x - (u - 1.0)                 # exact for x < 1
    c = where(x >= 1.0, c1, c2)
    kd, f = _log_parts(u)
    small = kd == 0.0
    f = where(small, x, f)             # k == 0: use x itself (no rounding)
    cm = where(small, xl, c + xl) / u
    y = _log_finish(kd, f, cm)
    return where(abs(x) < 1e-18, x, y)  # log1p(x) == x here; keeps -0.0


def _exp(x: V) -> V:
    """exp(x); subnormal results and overflow to inf as in libm."""
    return _exp_dd(x)[0]


def _expm1(x: V) -> V:
    """exp(x) - 1, accurate near 0; expm1(-0.0) = -0.0."""
    xc = where(x > 709.9, 709.9, x)    # nan passes through the clamps
    xc = where(xc < -40.0, -40.0, xc)  # expm1(-40) rounds to -1
    y = _expm1_dd(xc)[0]
    return where(abs(x) < 1e-18, x, y)  # expm1(x) == x here; keeps -0.0


def _log(x: V) -> V:
    """Natural log; log(0) = -inf, log(<0) = nan, subnormal inputs handled."""
    sub = x < MIN_NORMAL
    xs = where(sub, x * TWO54, x)      # subnormal -> normal, undone below
    kd, f = _log_parts(xs)
    kd = where(sub, kd - 54.0, kd)
    y = _log_finish(kd, f, 0.0)
    y = where(x < math.inf, y, x)      # +inf and nan pass through
    y = where(x == 0.0, -math.inf, y)
    return where(x < 0.0, math.nan, y)


def _log1p(x: V) -> V:
    """log(1 + x), accurate near 0; log1p(-1) = -inf, log1p(<-1) = nan."""
    y = _log1p_kernel(x, 0.0)
    y = where(x < math.inf, y, x)      # +inf and nan pass through
    y = where(x == -1.0, -math.inf, y)
    return where(x < -1.0, math.nan, y)


def _tanh(x: V) -> V:
    """tanh(x) via one expm1; odd, saturates to +-1, tanh(-0.0) = -0.0."""
    a = abs(x)
    a = where(a > 22.0, 22.0, a)       # tanh(22) == 1.0 in double; nan passes
    # fdlibm split, t = expm1(2a) = th + tl:  a < 1: t / (t + 2); a >= 1: 1 - 2 / (t + 2) (rounds correctly up to
    # the saturation at 19.06). The TwoSum error ed of d = th + 2 and tl enter as first-order corrections.
    big = a >= 1.0
    th, tl = _expm1_dd(2.0 * a)
    d = th + 2.0
    bb = d - th
    ed = (th - (d - bb)) + (2.0 - bb)
    q = where(big, 2.0, th) / d        # one division for both branches
    inv = where(big, 0.5 * q, 0.5 - 0.5 * q)  # 1/d recovered from q (2/d + th/d == 1)
    q = q + inv * (where(big, 0.0, tl) - q * (ed + tl))
    z = where(big, 1.0 - q, q)
    z = where(x < 0.0, -z, z)
    return where(a < 3.725290298461914e-09, x, z)  # |x| < 2**-28: tanh(x) == x


def _sigmoid(x: V) -> V:
    """1 / (1 + exp(-x)) without overflow; sigmoid(-inf) = 0, sigmoid(inf) = 1."""
    eh, el = _exp_dd(-abs(x))          # exp(-|x|) = eh + el, in [0, 1]
    d = 1.0 + eh
    ed = (1.0 - d) + eh                # rounding error of d (Fast2Sum)
    q = eh / d                         # sigmoid(-|x|): keeps tiny results exact
    inv = 1.0 - q                      # 1/d recovered from q, no 2nd division
    q = q + inv * (el - q * (ed + el))  # (eh + el) / (d + ed + el) to first order
    return where(x >= 0.0, 1.0 - q, q)  # sigmoid(x) = 1 - sigmoid(-x); nan -> q


def _softplus(x: V) -> V:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable for any x."""
    eh, el = _exp_dd(-abs(x))
    m = where(x > 0.0, x, 0.0)         # nan -> 0 here, nan comes through eh
    return m + _log1p_kernel(eh, el)


def _sigmoid_libm(x: V) -> V:
    """1 / (1 + exp(-x)) with the C library's exp, in the branch that cannot overflow."""
    def exp(v: V) -> V:
        return V(kir.call("exp", v.e))
    return where(x >= 0.0, 1.0 / (1.0 + exp(-x)), exp(x) / (1.0 + exp(x)))


def _softplus_libm(x: V) -> V:
    """max(x, 0) + log1p(exp(-|x|)) with the C library's exp and log1p."""
    return where(x > 0.0, x, 0.0) + V(kir.call("log1p", kir.call("exp", (-abs(x)).e)))


# -- float32: the same reductions in float32 lanes (twice the lanes of float64), shorter polynomials -------------
# Cephes expf: exp(r) = 1 + r + r^2 P(r) on |r| <= ln2/2; Cody-Waite split of ln2 with 9 bits in the high part
LN2_HI_F, LN2_LO_F = 0.693359375, -2.12194440e-4
SHIFT_F, SHIFT_F_BITS = 12582912.0, 0x4B400000   # 1.5*2**23 and its bits
EXPF = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
# Cephes tanhf: tanh(x) = x + x^3 P(x^2) on |x| < 0.625
TANHF = (-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1)


def _horner(x: V, coefficients: tuple[float, ...]) -> V:
    p = coefficients[0]
    for c in coefficients[1:]:
        p = fma(p, x, c)
    return p


def _exp_f32(x: V) -> V:
    """exp(x) in float32; subnormal results and overflow to inf as in libm."""
    x = where(x > 88.8, 88.8, x)       # past log(FLT_MAX): inf below; nan passes the clamps
    x = where(x < -104.0, -104.0, x)   # exp(-104) already rounds to 0
    kd = x * INV_LN2 + SHIFT_F
    ki = kd.bits() - SHIFT_F_BITS
    kd = kd - SHIFT_F
    r = (x - kd * LN2_HI_F) - kd * LN2_LO_F
    y = fma(r * r, _horner(r, EXPF), r) + 1.0
    k1 = ki >> 1                       # 2**k in two halves: k = 128 and subnormal results, one rounding
    return (y * _pow2(k1)) * _pow2(ki - k1)


def _tanh_f32(x: V) -> V:
    """tanh(x) in float32: odd, saturates to +-1, tanh(-0.0) = -0.0."""
    a = where(abs(x) > 9.1, 9.1, abs(x))  # tanh(9.1) == 1.0 in float32; nan passes
    z = a * a
    small = fma(x * z, _horner(z, TANHF), x)
    big = 1.0 - 2.0 / (_exp_f32(2.0 * a) + 1.0)
    y = where(a < 0.625, small, where(x < 0.0, -big, big))
    return where(a < 2.44140625e-4, x, y)  # |x| < 2**-12: tanh(x) == x in float32; keeps -0.0


def _sigmoid_f32(x: V) -> V:
    """1 / (1 + exp(-x)) in float32, from exp(-|x|) (no overflow); sigmoid(-inf) = 0, sigmoid(inf) = 1."""
    e = _exp_f32(-abs(x))
    r = 1.0 / (1.0 + e)
    return where(x >= 0.0, r, e * r)   # nan -> e * r


_LIBM_ALGORITHMS = {"sigmoid": _sigmoid_libm, "softplus": _softplus_libm}  # written for any float dtype
_ALGORITHMS = {"exp": _exp, "expm1": _expm1, "log": _log, "log1p": _log1p, "tanh": _tanh, "sigmoid": _sigmoid,
               "softplus": _softplus}
_ALGORITHMS_F32 = {"exp": _exp_f32, "tanh": _tanh_f32, "sigmoid": _sigmoid_f32}
#: The names of the fast functions.
NAMES = tuple(_ALGORITHMS)
#: The fast functions with a float32 algorithm of their own (the others compute float32 arguments in float64).
FLOAT32_NAMES = tuple(_ALGORITHMS_F32)


@dataclass(frozen=True)
class FastFunction:
    """``name(x)``: the expression ``body`` of the variable ``x`` (a DAG: shared parts once), in ``x``'s dtype."""

    name: str
    x: kir.Var
    body: kir.Expr
    doc: str


@functools.cache
def fast_function(name: str, libm: bool = False, dtype: str = "float64") -> FastFunction:
    """The definition of fast function ``name`` on ``dtype`` (built once per process); ``libm``: the variant over
    the C library's functions that ``sd.compile(..., libm=True)`` uses."""
    x = kir.Var("x", dtype)
    tables = {"float64": _ALGORITHMS, "float32": _ALGORITHMS_F32}
    algorithm = _LIBM_ALGORITHMS[name] if libm else tables[dtype][name]
    return FastFunction(name + ("_libm" if libm else ""), x, algorithm(V(x)).e, algorithm.__doc__)
