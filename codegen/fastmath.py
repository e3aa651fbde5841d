"""Vectorizable scalar transcendental functions for generated Numba kernels.

Inside Numba loops ``math.exp`` / ``math.log`` / ``math.tanh`` become calls to
scalar libm, which blocks LLVM's loop vectorizer (PyPI llvmlite has no SVML).
The functions below use only arithmetic, bit casts and selects (no calls, no
data-dependent branches once LLVM has if-converted the ternaries), so a loop
``for i in range(n): out[i] = fast_exp(x[i])`` vectorizes without fastmath.

Functions (float64 -> float64; float32/int arguments are promoted to float64,
so float32 kernels call these and cast the result back):
    fast_exp, fast_expm1, fast_log, fast_log1p, fast_tanh, fast_sigmoid,
    fast_softplus (= log(1 + exp(x)), stable for any x).
Accuracy: within 2 ulp of NumPy over the whole double range (measured < 1.5),
with IEEE edge cases (+-0, +-inf, nan, subnormals, overflow/underflow
thresholds) matching NumPy exactly.

Algorithms: exp/expm1 use Cody-Waite reduction x = k*ln2 + r (k from the
1.5*2**52 rounding trick), a degree-12 polynomial for expm1(r) and 2**k built
from exponent bits; log/log1p use fdlibm's s = f/(2+f) kernel with the
exponent and mantissa taken from the bit pattern; tanh, sigmoid and softplus
are built on those kernels.

Usage notes:
* Every function is ``numba.njit(inline="always")`` so it is inlined at Numba
  IR level and compiled with the *caller's* flags.  Do not compile callers
  with fastmath=True (or the 'reassoc'/'nnan'/'ninf' flags): reassociation
  destroys the rounding tricks and nnan/ninf remove the special-case selects.
  'contract' (FMA) is harmless.
* Divisions go through the ``_div`` intrinsic (plain fdiv) so the caller's
  error_model="python" zero-division check cannot add a branch.
* This file is copied verbatim into generated modules: it imports only math,
  numpy, numba and llvmlite.

FUNCTIONS maps a name to ``(fast_function_name, libm_template)``; the code
generator emits ``fast_exp(<arg>)`` or ``FUNCTIONS["exp"][1].format(<arg>)``
(e.g. ``math.exp(<arg>)``) depending on the user's libm setting.  Templates may
use ``{0}`` more than once, so pass a plain variable name as the argument.
"""
import math
import numpy as np
import numba
from numba import types
from numba.extending import intrinsic
from llvmlite import ir

FUNCTIONS = {
    "exp": ("fast_exp", "math.exp({0})"),
    "log": ("fast_log", "math.log({0})"),
    "tanh": ("fast_tanh", "math.tanh({0})"),
    "sigmoid": ("fast_sigmoid", "(1.0 / (1.0 + math.exp(-({0}))))"),
    "softplus": ("fast_softplus",
                 "(({0}) if ({0}) > 0.0 else 0.0) + math.log1p(math.exp(-abs({0})))"),
    "log1p": ("fast_log1p", "math.log1p({0})"),
    "expm1": ("fast_expm1", "math.expm1({0})"),
}

_inline = numba.njit(inline="always", cache=False)


@intrinsic
def _f2i(typingctx, x):
    # reinterpret float64 bits as int64 (free; vectorizes)
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _i2f(typingctx, i):
    # reinterpret int64 bits as float64
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _div(typingctx, a, b):
    # plain fdiv: no ZeroDivisionError branch whatever the caller's error_model
    def codegen(context, builder, sig, args):
        return builder.fdiv(args[0], args[1])
    return types.float64(types.float64, types.float64), codegen


# Cody-Waite split of ln2: _LN2_HI has 21 trailing zero bits so k*_LN2_HI is exact
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_SHIFT = 6755399441055744.0            # 1.5*2**52: x + _SHIFT rounds x to an integer
_SHIFT_BITS = 0x4338000000000000       # bits of _SHIFT; low bits then hold the integer
_EXP_ONE = 0x3ff0000000000000          # bits of 1.0
_MANT_MASK = 0x000fffffffffffff
_SQRT_HALF_BITS = 0x3fe6a09e667f3bcd   # bits of sqrt(0.5): mantissa range [sqrt(.5), sqrt(2))
_LOG_OFF = _EXP_ONE - _SQRT_HALF_BITS
_TWO52_BITS = 0x4330000000000000       # bits of 2**52, used for small int -> float
_TWO52_P1023 = 4503599627371519.0      # 2**52 + 1023
_TWO54 = 18014398509481984.0           # 2**54: rescales subnormal log arguments
_MIN_NORMAL = 2.2250738585072014e-308
_INF = math.inf
_NAN = math.nan

# expm1(r) = r + r^2/2 + r^3*P(r) on |r| <= 0.3466 (weighted least squares, rel err 2^-61)
_E3 = 0.16666666666666677
_E4 = 0.0416666666666666
_E5 = 0.008333333333321521
_E6 = 0.001388888888892797
_E7 = 0.00019841269886340576
_E8 = 2.4801587228197928e-05
_E9 = 2.7557244036215014e-06
_E10 = 2.755736146995893e-07
_E11 = 2.510908640959904e-08
_E12 = 2.088671560288274e-09

# fdlibm log kernel: R(z) ~ log((1+s)/(1-s)) correction, |err| < 2^-58.45
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


@_inline
def _pow2(k):
    # 2.0**k from exponent bits, valid for -1022 <= k <= 1023
    return _i2f((k + 1023) << 52)


@_inline
def _expm1_poly(r):
    # expm1(r) for |r| <= ln2/2, Horner form (fewest ops for a vectorized loop)
    p = _E12
    p = p * r + _E11
    p = p * r + _E10
    p = p * r + _E9
    p = p * r + _E8
    p = p * r + _E7
    p = p * r + _E6
    p = p * r + _E5
    p = p * r + _E4
    p = p * r + _E3
    return r + (r * r) * (0.5 + r * p)


@_inline
def _reduce(x):
    # x = k*ln2 + r + rc with |r| <= ln2/2; k as float and int, rc = rounding of r
    kd = x * _INV_LN2 + _SHIFT
    ki = _f2i(kd) - _SHIFT_BITS
    kd = kd - _SHIFT
    hi = x - kd * _LN2_HI                  # exact (Sterbenz)
    lo = kd * _LN2_LO
    r = hi - lo
    rc = (hi - r) - lo
    return kd, ki, r, rc


@_inline
def _exp_kernel(x):
    # exp for float64 x (any value incl. inf/nan)
    x = 709.9 if x > 709.9 else x          # clamp keeps k in range; nan passes through
    x = -746.0 if x < -746.0 else x        # exp(-746) already rounds to 0
    kd, ki, r, rc = _reduce(x)
    em = _expm1_poly(r)
    y = 1.0 + (em + rc * (1.0 + em))
    # scale by 2**k in two exact halves: handles k = 1024 and subnormal results
    # with a single rounding; k1 = round(k/2) via the same shift trick
    k1 = _f2i(kd * 0.5 + _SHIFT) - _SHIFT_BITS
    return (y * _pow2(k1)) * _pow2(ki - k1)


@_inline
def _expm1_kernel(x):
    # expm1 for -40 <= x <= 709.9 (no tiny-argument / sign-of-zero handling)
    kd, ki, r, rc = _reduce(x)
    em = _expm1_poly(r)
    em = em + rc * (1.0 + em)
    kc = 60 if ki > 60 else ki             # 2**kc - 1 is exact or rounds harmlessly
    two = _pow2(kc)
    y = two * em + (two - 1.0)
    return y * _pow2(ki - kc)              # remaining factor 1 unless k > 60


@_inline
def _log_parts(u):
    # u = 2**k * (1 + f), 1 + f in [sqrt(.5), sqrt(2)); u positive normal
    t = _f2i(u) + _LOG_OFF
    kb = (t >> 52) & 0x7ff                 # biased k; the mask turns it into lshr
    m = _i2f((t & _MANT_MASK) + _SQRT_HALF_BITS)
    kd = _i2f(kb + _TWO52_BITS) - _TWO52_P1023   # int -> float without cvtqq
    return kd, m - 1.0


@_inline
def _log_finish(kd, f, c):
    # fdlibm: log(2**k * (1 + f) + small), c = small / u correction
    hfsq = 0.5 * f * f
    s = _div(f, 2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    rr = t2 + t1
    return kd * _LN2_HI - ((hfsq - (s * (hfsq + rr) + (kd * _LN2_LO + c))) - f)


@_inline
def _log1p_kernel(x):
    # log1p for x >= 0 finite (or any x > -1; specials handled by callers)
    u = 1.0 + x
    c1 = 1.0 - (u - x)                     # rounding error of u, exact for x >= 1
    c2 = x - (u - 1.0)                     # exact for x < 1
    c = c1 if x >= 1.0 else c2
    kd, f = _log_parts(u)
    cm = _div(c, u)
    small = kd == 0.0
    f = x if small else f                  # k == 0: use x itself (no rounding)
    cm = 0.0 if small else cm
    y = _log_finish(kd, f, cm)
    return x if abs(x) < 1e-18 else y      # log1p(x) == x here; keeps -0.0


@_inline
def fast_exp(x):
    """exp(x); subnormal results and overflow to inf as in libm."""
    return _exp_kernel(np.float64(x))


@_inline
def fast_expm1(x):
    """exp(x) - 1, accurate near 0; expm1(-0.0) = -0.0."""
    x = np.float64(x)
    xc = 709.9 if x > 709.9 else x         # nan passes through the clamps
    xc = -40.0 if xc < -40.0 else xc       # expm1(-40) rounds to -1
    y = _expm1_kernel(xc)
    return x if abs(x) < 1e-18 else y      # expm1(x) == x here; keeps -0.0


@_inline
def fast_log(x):
    """Natural log; log(0) = -inf, log(<0) = nan, subnormal inputs handled."""
    x = np.float64(x)
    sub = x < _MIN_NORMAL
    xs = x * _TWO54 if sub else x          # subnormal -> normal, undo below
    kd, f = _log_parts(xs)
    kd = kd - 54.0 if sub else kd
    y = _log_finish(kd, f, 0.0)
    y = y if x < _INF else x               # +inf and nan pass through
    y = -_INF if x == 0.0 else y
    return _NAN if x < 0.0 else y


@_inline
def fast_log1p(x):
    """log(1 + x), accurate near 0; log1p(-1) = -inf, log1p(<-1) = nan."""
    x = np.float64(x)
    y = _log1p_kernel(x)
    y = y if x < _INF else x               # +inf and nan pass through
    y = -_INF if x == -1.0 else y
    return _NAN if x < -1.0 else y


@_inline
def fast_tanh(x):
    """tanh(x) via one expm1; odd, saturates to +-1, tanh(-0.0) = -0.0."""
    x = np.float64(x)
    a = abs(x)
    a = 22.0 if a > 22.0 else a            # tanh(22) == 1.0 in double; nan passes
    big = a >= 1.0
    # fdlibm: a >= 1: 1 - 2/(expm1(2a) + 2);  a < 1: -t/(t + 2), t = expm1(-2a)
    t = _expm1_kernel(2.0 * a if big else -2.0 * a)
    q = _div(2.0 if big else -t, t + 2.0)
    z = 1.0 - q if big else q
    z = -z if x < 0.0 else z
    return x if a < 3.7252902984e-09 else z   # |x| < 2**-28: tanh(x) == x


@_inline
def fast_sigmoid(x):
    """1 / (1 + exp(-x)) without overflow; sigmoid(-inf) = 0, sigmoid(inf) = 1."""
    x = np.float64(x)
    e = _exp_kernel(-abs(x))               # in [0, 1]
    n = 1.0 if x >= 0.0 else e             # x < 0: e / (1 + e) keeps tiny results
    return _div(n, 1.0 + e)


@_inline
def fast_softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable for any x."""
    x = np.float64(x)
    e = _exp_kernel(-abs(x))
    m = x if x > 0.0 else 0.0              # nan -> 0 here, nan comes through e
    return m + _log1p_kernel(e)
