"""Vectorizable scalar transcendental functions for generated Numba kernels.

Inside Numba loops ``math.exp`` / ``math.log`` / ``math.tanh`` become calls to
scalar libm, which blocks LLVM's loop vectorizer (PyPI llvmlite has no SVML).
The functions below use only arithmetic, bit casts and selects (no calls, no
data-dependent branches once LLVM has if-converted the ternaries), so a loop
``for i in range(n): out[i] = fast_exp(x[i])`` vectorizes without fastmath.

Functions (float64 in, float64 out):
    fast_exp, fast_expm1, fast_log, fast_log1p, fast_tanh,
    fast_sigmoid (1/(1+exp(-x))), fast_softplus (log(1+exp(x)), stable for any x).
float32 / integer arguments are promoted to float64 and the caller casts the
result back on store (float32 kernels: one extra rounding, <= 1 float32 ulp).
There are no dedicated float32 versions: a float32 loop runs at about the
float64 speed (4 lanes); 8-lane float32 kernels would need their own
polynomials and are left for later.

Accuracy: <= 1 ulp from the correctly rounded result (so <= 2 ulp from NumPy)
over the whole double range, usually correctly rounded.  IEEE special cases
match NumPy exactly: +-0 (sign kept: tanh/expm1/log1p(-0.0) = -0.0), +-inf,
nan, subnormal inputs, subnormal outputs (<= 1 ulp; exp double-rounds there),
overflow / underflow thresholds, log(0) = -inf, log(<0) = nan, log1p(-1) = -inf.

Algorithms: exp/expm1: Cody-Waite reduction x = k*ln2 + r (k via the 1.5*2**52
rounding trick), a degree-12 polynomial for expm1(r), 2**k built from exponent
bits, hi/lo (double-double) results for the composite functions; log/log1p:
fdlibm's s = f/(2+f) kernel, exponent and mantissa taken from the bit pattern;
tanh = expm1-based (fdlibm split), sigmoid/softplus on top of exp and log1p.

Usage notes:
* The functions are plain ``numba.njit`` functions: each is typed once and LLVM
  inlines it into the caller's loop, which then vectorizes (Numba-level inlining
  of every call site cost ~0.7 s of compile time per use).  fast_softplus is
  too big for LLVM's inliner, so it alone is ``inline="always"`` (Numba IR
  level) and is compiled with the *caller's* flags: never compile such callers
  with fastmath=True (or the 'reassoc'/'nnan'/'ninf' flags): reassociation
  folds the rounding tricks away and nnan/ninf drop the special-case selects.
  fastmath={'contract'} is fine.
* Polynomials use llvm.fmuladd (FMA where the CPU has one, else mul + add), so
  results may differ by an ulp between FMA and non-FMA machines.
* Divisions go through the ``_fm_div`` intrinsic (plain fdiv) so the caller's
  error_model="python" zero-division check cannot add a branch.
* This file is copied verbatim into generated modules: it imports only math,
  numpy, numba and llvmlite, and its private names start with _fm_ / _FM_ so
  they do not clash with generated code.

FUNCTIONS maps a name to ``(fast_function_name, libm_template)``; the code
generator emits ``fast_exp(<arg>)`` or ``FUNCTIONS["exp"][1].format(<arg>)``
(e.g. ``math.exp(<arg>)``) depending on the user's libm setting.  Templates are
parenthesized expressions that may use ``{0}`` more than once, so pass a plain
variable name as the argument.
"""
import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

FUNCTIONS = {
    "exp": ("fast_exp", "math.exp({0})"),
    "log": ("fast_log", "math.log({0})"),
    "tanh": ("fast_tanh", "math.tanh({0})"),
    "sigmoid": ("fast_sigmoid", "((1.0 / (1.0 + math.exp(-({0})))) if ({0}) >= 0.0"
                                " else (math.exp({0}) / (1.0 + math.exp({0}))))"),
    "softplus": ("fast_softplus",
                 "((({0}) if ({0}) > 0.0 else 0.0) + math.log1p(math.exp(-abs({0}))))"),
    "log1p": ("fast_log1p", "math.log1p({0})"),
    "expm1": ("fast_expm1", "math.expm1({0})"),
}

# LLVM inlines these small functions into the caller's loop (and vectorizes it) at no Numba typing
# cost per call site; softplus is too big for LLVM's inliner, so Numba inlines its IR instead.
_fm_inline = numba.njit(cache=False)
_fm_inline_ir = numba.njit(inline="always", cache=False)


@intrinsic
def _fm_f2i(typingctx, x):
    # reinterpret float64 bits as int64 (free; vectorizes)
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _fm_i2f(typingctx, i):
    # reinterpret int64 bits as float64
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _fm_div(typingctx, a, b):
    # plain fdiv: no ZeroDivisionError branch whatever the caller's error_model
    def codegen(context, builder, sig, args):
        return builder.fdiv(args[0], args[1])
    return types.float64(types.float64, types.float64), codegen


@intrinsic
def _fm_fma(typingctx, a, b, c):
    # a*b + c via llvm.fmuladd: one FMA where the CPU has it, else mul + add
    # (polynomials only; error-free transformations below never use it)
    def codegen(context, builder, sig, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic(
            "llvm.fmuladd", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)
    return types.float64(types.float64, types.float64, types.float64), codegen


@intrinsic
def _fm_select(typingctx, c, a, b):
    # branch-free select (an LLVM select, so no op gets duplicated into arms)
    def codegen(context, builder, sig, args):
        return builder.select(args[0], args[1], args[2])
    return types.float64(types.boolean, types.float64, types.float64), codegen


# Cody-Waite split of ln2: _FM_LN2_HI has 21 trailing zero bits so k*_FM_LN2_HI is exact
_FM_LN2_HI = 6.93147180369123816490e-01
_FM_LN2_LO = 1.90821492927058770002e-10
_FM_INV_LN2 = 1.44269504088896338700e+00
_FM_SHIFT = 6755399441055744.0            # 1.5*2**52: x + _FM_SHIFT rounds x to an integer
_FM_SHIFT_BITS = 0x4338000000000000       # bits of _FM_SHIFT; low bits then hold the integer
_FM_EXP_ONE = 0x3ff0000000000000          # bits of 1.0
_FM_MANT_MASK = 0x000fffffffffffff
_FM_SQRT_HALF_BITS = 0x3fe6a09e667f3bcd   # bits of sqrt(0.5): mantissa range [sqrt(.5), sqrt(2))
_FM_LOG_OFF = _FM_EXP_ONE - _FM_SQRT_HALF_BITS
_FM_TWO52_BITS = 0x4330000000000000       # bits of 2**52, used for small int -> float
_FM_TWO52_P1023 = 4503599627371519.0      # 2**52 + 1023
_FM_TWO54 = 18014398509481984.0           # 2**54: rescales subnormal log arguments
_FM_MIN_NORMAL = 2.2250738585072014e-308
_FM_INF = math.inf
_FM_NAN = math.nan

# expm1(r) = r + r^2/2 + r^3*P(r) on |r| <= 0.3466 (weighted least squares, rel err 2^-61)
_FM_E3 = 0.16666666666666677
_FM_E4 = 0.0416666666666666
_FM_E5 = 0.008333333333321521
_FM_E6 = 0.001388888888892797
_FM_E7 = 0.00019841269886340576
_FM_E8 = 2.4801587228197928e-05
_FM_E9 = 2.7557244036215014e-06
_FM_E10 = 2.755736146995893e-07
_FM_E11 = 2.510908640959904e-08
_FM_E12 = 2.088671560288274e-09

# fdlibm log kernel: R(z) ~ log((1+s)/(1-s)) correction, |err| < 2^-58.45
_FM_LG1 = 6.666666666666735130e-01
_FM_LG2 = 3.999999999940941908e-01
_FM_LG3 = 2.857142874366239149e-01
_FM_LG4 = 2.222219843214978396e-01
_FM_LG5 = 1.818357216161805012e-01
_FM_LG6 = 1.531383769920937332e-01
_FM_LG7 = 1.479819860511658591e-01


@_fm_inline
def _fm_pow2(k):
    # 2.0**k from exponent bits, valid for -1022 <= k <= 1023
    return _fm_i2f((k + 1023) << 52)


@_fm_inline
def _fm_expm1_tail(r):
    # expm1(r) - r for |r| <= ln2/2; Estrin form: short dependency chains keep
    # the vectorized loop throughput-bound instead of latency-bound
    r2 = r * r
    r4 = r2 * r2
    a = _fm_fma(_FM_E4, r, _FM_E3)
    b = _fm_fma(_FM_E6, r, _FM_E5)
    c = _fm_fma(_FM_E8, r, _FM_E7)
    d = _fm_fma(_FM_E10, r, _FM_E9)
    e = _fm_fma(_FM_E12, r, _FM_E11)
    p = _fm_fma(r4, _fm_fma(r4, e, _fm_fma(d, r2, c)), _fm_fma(b, r2, a))
    return r2 * _fm_fma(r, p, 0.5)


@_fm_inline
def _fm_reduce(x):
    # x = k*ln2 + r + rc with |r| <= ln2/2; k as float and int, rc = rounding of r
    kd = x * _FM_INV_LN2 + _FM_SHIFT
    ki = _fm_f2i(kd) - _FM_SHIFT_BITS
    kd = kd - _FM_SHIFT
    hi = x - kd * _FM_LN2_HI               # exact (Sterbenz)
    lo = kd * _FM_LN2_LO
    r = hi - lo
    rc = (hi - r) - lo
    return kd, ki, r, rc


@_fm_inline
def _fm_exp_dd(x):
    # exp(x) as an unevaluated sum hi + lo (lo ~ rounding error of hi); any x
    x = 709.9 if x > 709.9 else x          # clamp keeps k in range; nan passes through
    x = -746.0 if x < -746.0 else x        # exp(-746) already rounds to 0
    kd, ki, r, rc = _fm_reduce(x)
    q = _fm_expm1_tail(r)
    s = 1.0 + r                            # Fast2Sum: s + es == 1 + r exactly
    es = (1.0 - s) + r
    rest = es + (q + rc * (s + q))         # rc term: exp(r + rc) ~ exp(r) * (1 + rc)
    y = s + rest
    yl = (s - y) + rest
    # scale by 2**k in two halves (k1 = round(k/2) via the shift trick): handles
    # k = 1024 and subnormal results, where only the last multiply rounds
    k1 = _fm_f2i(kd * 0.5 + _FM_SHIFT) - _FM_SHIFT_BITS
    sc1 = _fm_pow2(k1)
    sc2 = _fm_pow2(ki - k1)
    return (y * sc1) * sc2, (yl * sc1) * sc2


@_fm_inline
def _fm_expm1_dd(x):
    # expm1(x) as hi + lo for -40 <= x <= 709.9 (no sign-of-zero handling)
    kd, ki, r, rc = _fm_reduce(x)
    q = _fm_expm1_tail(r)
    kc = 60 if ki > 60 else ki             # 2**kc - 1 is exact or rounds harmlessly
    two = _fm_pow2(kc)
    # 2**k * expm1(r) + (2**k - 1): add the exact parts with Fast2Sum
    a = two - 1.0
    b = two * r
    s = a + b
    es = (a - s) + b                       # |a| >= |b| or a == 0, so this is exact
    rest = es + two * (q + rc * (1.0 + r + q))
    y = s + rest
    yl = (s - y) + rest
    sc = _fm_pow2(ki - kc)                 # 1 unless k > 60
    return y * sc, yl * sc


@_fm_inline
def _fm_log_parts(u):
    # u = 2**k * (1 + f), 1 + f in [sqrt(.5), sqrt(2)); u positive normal
    t = _fm_f2i(u) + _FM_LOG_OFF
    kb = (t >> 52) & 0x7ff                 # biased k; the mask turns it into lshr
    m = _fm_i2f((t & _FM_MANT_MASK) + _FM_SQRT_HALF_BITS)
    kd = _fm_i2f(kb + _FM_TWO52_BITS) - _FM_TWO52_P1023  # int -> float without cvtqq
    return kd, m - 1.0


@_fm_inline
def _fm_log_finish(kd, f, c):
    # fdlibm: log(2**k * (1 + f) + small), c = small / u correction
    hfsq = 0.5 * f * f
    s = _fm_div(f, 2.0 + f)
    z = s * s
    w = z * z
    t1 = w * _fm_fma(w, _fm_fma(w, _FM_LG6, _FM_LG4), _FM_LG2)
    t2 = z * _fm_fma(w, _fm_fma(w, _fm_fma(w, _FM_LG7, _FM_LG5), _FM_LG3), _FM_LG1)
    rr = t2 + t1
    return kd * _FM_LN2_HI - ((hfsq - (s * (hfsq + rr) + (kd * _FM_LN2_LO + c))) - f)


@_fm_inline
def _fm_log1p_kernel(x, xl):
    # log1p(x + xl) for x > -1 (specials handled by callers), xl a tiny low part
    u = 1.0 + x
    c1 = 1.0 - (u - x)                     # rounding error of u, exact for x >= 1
    c2 = x - (u - 1.0)                     # exact for x < 1
    c = c1 if x >= 1.0 else c2
    kd, f = _fm_log_parts(u)
    small = kd == 0.0
    f = x if small else f                  # k == 0: use x itself (no rounding)
    cm = _fm_div(xl if small else c + xl, u)
    y = _fm_log_finish(kd, f, cm)
    return x if abs(x) < 1e-18 else y      # log1p(x) == x here; keeps -0.0


@_fm_inline
def fast_exp(x):
    """exp(x); subnormal results and overflow to inf as in libm."""
    return _fm_exp_dd(np.float64(x))[0]


@_fm_inline
def fast_expm1(x):
    """exp(x) - 1, accurate near 0; expm1(-0.0) = -0.0."""
    x = np.float64(x)
    xc = 709.9 if x > 709.9 else x         # nan passes through the clamps
    xc = -40.0 if xc < -40.0 else xc       # expm1(-40) rounds to -1
    y = _fm_expm1_dd(xc)[0]
    return x if abs(x) < 1e-18 else y      # expm1(x) == x here; keeps -0.0


@_fm_inline
def fast_log(x):
    """Natural log; log(0) = -inf, log(<0) = nan, subnormal inputs handled."""
    x = np.float64(x)
    sub = x < _FM_MIN_NORMAL
    xs = x * _FM_TWO54 if sub else x       # subnormal -> normal, undo below
    kd, f = _fm_log_parts(xs)
    kd = kd - 54.0 if sub else kd
    y = _fm_log_finish(kd, f, 0.0)
    y = y if x < _FM_INF else x            # +inf and nan pass through
    y = -_FM_INF if x == 0.0 else y
    return _FM_NAN if x < 0.0 else y


@_fm_inline
def fast_log1p(x):
    """log(1 + x), accurate near 0; log1p(-1) = -inf, log1p(<-1) = nan."""
    x = np.float64(x)
    y = _fm_log1p_kernel(x, 0.0)
    y = y if x < _FM_INF else x            # +inf and nan pass through
    y = -_FM_INF if x == -1.0 else y
    return _FM_NAN if x < -1.0 else y


@_fm_inline
def fast_tanh(x):
    """tanh(x) via one expm1; odd, saturates to +-1, tanh(-0.0) = -0.0."""
    x = np.float64(x)
    a = abs(x)
    a = 22.0 if a > 22.0 else a            # tanh(22) == 1.0 in double; nan passes
    # fdlibm split, t = expm1(2a) = th + tl:  a < 1: t / (t + 2);
    # a >= 1: 1 - 2 / (t + 2) (rounds correctly up to the saturation at 19.06).
    # The TwoSum error ed of d = th + 2 and tl enter as first-order corrections.
    big = a >= 1.0
    th, tl = _fm_expm1_dd(2.0 * a)
    d = th + 2.0
    bb = d - th
    ed = (th - (d - bb)) + (2.0 - bb)
    q = _fm_div(_fm_select(big, 2.0, th), d)  # _fm_select: a ternary here became 2 divisions
    inv = _fm_select(big, 0.5 * q, 0.5 - 0.5 * q)  # 1/d recovered from q (2/d + th/d == 1)
    q = q + inv * (_fm_select(big, 0.0, tl) - q * (ed + tl))
    z = _fm_select(big, 1.0 - q, q)
    z = -z if x < 0.0 else z
    return x if a < 3.725290298461914e-09 else z  # |x| < 2**-28: tanh(x) == x


@_fm_inline
def fast_sigmoid(x):
    """1 / (1 + exp(-x)) without overflow; sigmoid(-inf) = 0, sigmoid(inf) = 1."""
    x = np.float64(x)
    eh, el = _fm_exp_dd(-abs(x))           # exp(-|x|) = eh + el, in [0, 1]
    d = 1.0 + eh
    ed = (1.0 - d) + eh                    # rounding error of d (Fast2Sum)
    q = _fm_div(eh, d)                     # sigmoid(-|x|): keeps tiny results exact
    inv = 1.0 - q                          # 1/d recovered from q, no 2nd division
    q = q + inv * (el - q * (ed + el))     # (eh + el) / (d + ed + el) to first order
    return 1.0 - q if x >= 0.0 else q      # sigmoid(x) = 1 - sigmoid(-x); nan -> q


@_fm_inline_ir
def fast_softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable for any x."""
    x = np.float64(x)
    eh, el = _fm_exp_dd(-abs(x))
    m = x if x > 0.0 else 0.0              # nan -> 0 here, nan comes through eh
    return m + _fm_log1p_kernel(eh, el)
