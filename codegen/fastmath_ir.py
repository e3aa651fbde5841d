"""Vectorizable scalar transcendental functions, written as LLVM IR builders.

Inside Numba loops ``math.exp`` / ``math.log`` / ``math.tanh`` become calls to scalar libm,
which blocks LLVM's loop vectorizer (PyPI llvmlite has no SVML).  The functions below use only
arithmetic, bit casts and selects (no calls, no branches), so a loop
``for i in range(n): out[i] = fast_exp(x[i])`` vectorizes without fastmath.

Functions (float64 in, float64 out):
    fast_exp, fast_expm1, fast_log, fast_log1p, fast_tanh,
    fast_sigmoid (1/(1+exp(-x))), fast_softplus (log(1+exp(x)), stable for any x).
float32 / integer / boolean arguments are promoted to float64 and the caller casts the result
back on store (float32 kernels: one extra rounding, <= 1 float32 ulp).  There are no dedicated
float32 versions: a float32 loop runs at about the float64 speed (4 lanes); 8-lane float32
kernels would need their own polynomials and are left for later.

Accuracy: <= 1 ulp from the correctly rounded result (so <= 2 ulp from NumPy) over the whole
double range, usually correctly rounded.  IEEE special cases match NumPy exactly: +-0 (sign
kept: tanh/expm1/log1p(-0.0) = -0.0), +-inf, nan, subnormal inputs, subnormal outputs (<= 1 ulp;
exp double-rounds there), overflow / underflow thresholds, log(0) = -inf, log(<0) = nan,
log1p(-1) = -inf.

Algorithms: exp/expm1: Cody-Waite reduction x = k*ln2 + r (k via the 1.5*2**52 rounding
trick), a degree-12 polynomial for expm1(r), 2**k built from exponent bits, hi/lo
(double-double) results for the composite functions; log/log1p: fdlibm's s = f/(2+f) kernel,
exponent and mantissa taken from the bit pattern; tanh = expm1-based (fdlibm split),
sigmoid/softplus on top of exp and log1p.

The algorithms are Python code over ``_FmVal`` (LLVM values whose operators emit IR), so they are
built straight into LLVM IR: ``define_fast_function(module, name)`` adds
``double symdiff_fast_<name>_f64(double)`` (``alwaysinline``) to an llvmlite module. fastmath.py
wraps them as Numba intrinsics for generated kernels; codegen/pointwise.py calls them from its own
LLVM loops. This file needs only math and llvmlite (no Numba), and is copied verbatim into
generated modules ahead of fastmath.py: its private names start with _fm_ / _FM_.
"""
import math

from llvmlite import ir

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


# ---------------------------------------------------------------- IR-building DSL
_FM_F64 = ir.DoubleType()
_FM_I64 = ir.IntType(64)


def _fm_like(ty, element):
    # ty with its element type replaced: double -> i64, <4 x double> -> <4 x i64>
    return ir.VectorType(element, ty.count) if isinstance(ty, ir.VectorType) else element


def _fm_is_float(ty):
    return (ty.element if isinstance(ty, ir.VectorType) else ty) == _FM_F64


def math_intrinsic(module, name, ty, nargs=1):
    """The LLVM intrinsic ``name`` (e.g. "llvm.fabs") on ``ty``: double, float or a vector of either,
    declared once per type (llvmlite's declare_intrinsic cannot name vector overloads)."""
    element = ty.element if isinstance(ty, ir.VectorType) else ty
    suffix = "f64" if element == _FM_F64 else "f32"
    symbol = f"{name}.v{ty.count}{suffix}" if isinstance(ty, ir.VectorType) else f"{name}.{suffix}"
    return module.globals.get(symbol) or ir.Function(module, ir.FunctionType(ty, [ty] * nargs), symbol)


def _fm_ir(v, ty):
    # an operand as an LLVM value: Python numbers become constants of type ty
    return v.v if isinstance(v, _FmVal) else ir.Constant(ty, v)


def _fm_op(fop, iop=None, swap=False, pred=None):
    # operator method: IRBuilder method fop on doubles, iop on i64 (pred: comparison predicate);
    # swap for the reflected forms such as 2.0 - x
    def method(self, other):
        a, b = self.v, _fm_ir(other, self.v.type)
        a, b = (b, a) if swap else (a, b)
        emit = getattr(self.builder, fop if _fm_is_float(self.v.type) else iop)
        return _FmVal(self.builder, emit(a, b) if pred is None else emit(pred, a, b))
    return method


class _FmVal:
    """A double / i64 / i1 LLVM value (or a vector of them) whose Python operators emit IR instructions.

    So the algorithms read like the float64 / int64 code Numba would compile, and emit the same
    instructions (no fast-math flags, ordered comparisons, ``/`` a plain fdiv).  Python numbers
    mixed in become constants; ``a if c else b`` must be ``_fm_select(c, a, b)``.
    """

    __slots__ = ("builder", "v")

    def __init__(self, builder, v):
        self.builder, self.v = builder, v

    __add__, __radd__ = _fm_op("fadd", "add"), _fm_op("fadd", "add", swap=True)
    __sub__, __rsub__ = _fm_op("fsub", "sub"), _fm_op("fsub", "sub", swap=True)
    __mul__, __rmul__ = _fm_op("fmul"), _fm_op("fmul", swap=True)
    __truediv__ = _fm_op("fdiv")
    __and__ = _fm_op(None, "and_")
    __lshift__, __rshift__ = _fm_op(None, "shl"), _fm_op(None, "ashr")
    # ordered fcmp: false if either side is nan, as in Python
    __lt__, __le__, __gt__, __ge__, __eq__ = (
        _fm_op("fcmp_ordered", "icmp_signed", pred=p) for p in ("<", "<=", ">", ">=", "=="))

    def __bool__(self):
        raise TypeError("an IR value has no truth value: use _fm_select")

    def __neg__(self):
        return _FmVal(self.builder, self.builder.fneg(self.v))

    def __abs__(self):
        fabs = math_intrinsic(self.builder.module, "llvm.fabs", self.v.type)
        return _FmVal(self.builder, self.builder.call(fabs, [self.v]))

    def as_i64(self):  # the bits of a double as int64 (free; vectorizes)
        return _FmVal(self.builder, self.builder.bitcast(self.v, _fm_like(self.v.type, _FM_I64)))

    def as_f64(self):  # int64 bits reinterpreted as a double
        return _FmVal(self.builder, self.builder.bitcast(self.v, _fm_like(self.v.type, _FM_F64)))


def _fm_select(cond, a, b):
    # a if cond else b as an LLVM select: no branch, both arms computed (all are cheap and side-effect free)
    ty = (a if isinstance(a, _FmVal) else b).v.type
    return _FmVal(cond.builder, cond.builder.select(cond.v, _fm_ir(a, ty), _fm_ir(b, ty)))


def _fm_fma(a, b, c):
    # a*b + c via llvm.fmuladd: one FMA where the CPU has it, else mul + add
    # (polynomials only; error-free transformations below never use it)
    builder, ty = next((v.builder, v.v.type) for v in (a, b, c) if isinstance(v, _FmVal))
    fn = math_intrinsic(builder.module, "llvm.fmuladd", ty, 3)
    return _FmVal(builder, builder.call(fn, [_fm_ir(v, ty) for v in (a, b, c)]))


# ---------------------------------------------------------------- algorithms (emit IR)
def _fm_pow2(k):
    # 2.0**k from exponent bits, valid for -1022 <= k <= 1023
    return ((k + 1023) << 52).as_f64()


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


def _fm_reduce(x):
    # x = k*ln2 + r + rc with |r| <= ln2/2; k as float and int, rc = rounding of r
    kd = x * _FM_INV_LN2 + _FM_SHIFT
    ki = kd.as_i64() - _FM_SHIFT_BITS
    kd = kd - _FM_SHIFT
    hi = x - kd * _FM_LN2_HI               # exact (Sterbenz)
    lo = kd * _FM_LN2_LO
    r = hi - lo
    rc = (hi - r) - lo
    return kd, ki, r, rc


def _fm_exp_dd(x):
    # exp(x) as an unevaluated sum hi + lo (lo ~ rounding error of hi); any x
    x = _fm_select(x > 709.9, 709.9, x)    # clamp keeps k in range; nan passes through
    x = _fm_select(x < -746.0, -746.0, x)  # exp(-746) already rounds to 0
    kd, ki, r, rc = _fm_reduce(x)
    q = _fm_expm1_tail(r)
    s = 1.0 + r                            # Fast2Sum: s + es == 1 + r exactly
    es = (1.0 - s) + r
    rest = es + (q + rc * (s + q))         # rc term: exp(r + rc) ~ exp(r) * (1 + rc)
    y = s + rest
    yl = (s - y) + rest
    # scale by 2**k in two halves (k1 = round(k/2) via the shift trick): handles
    # k = 1024 and subnormal results, where only the last multiply rounds
    k1 = (kd * 0.5 + _FM_SHIFT).as_i64() - _FM_SHIFT_BITS
    sc1 = _fm_pow2(k1)
    sc2 = _fm_pow2(ki - k1)
    return (y * sc1) * sc2, (yl * sc1) * sc2


def _fm_expm1_dd(x):
    # expm1(x) as hi + lo for -40 <= x <= 709.9 (no sign-of-zero handling)
    kd, ki, r, rc = _fm_reduce(x)
    q = _fm_expm1_tail(r)
    kc = _fm_select(ki > 60, 60, ki)       # 2**kc - 1 is exact or rounds harmlessly
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


def _fm_log_parts(u):
    # u = 2**k * (1 + f), 1 + f in [sqrt(.5), sqrt(2)); u positive normal
    t = u.as_i64() + _FM_LOG_OFF
    kb = (t >> 52) & 0x7ff                 # biased k; the mask turns it into lshr
    m = ((t & _FM_MANT_MASK) + _FM_SQRT_HALF_BITS).as_f64()
    kd = (kb + _FM_TWO52_BITS).as_f64() - _FM_TWO52_P1023  # int -> float without cvtqq
    return kd, m - 1.0


def _fm_log_finish(kd, f, c):
    # fdlibm: log(2**k * (1 + f) + small), c = small / u correction
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * _fm_fma(w, _fm_fma(w, _FM_LG6, _FM_LG4), _FM_LG2)
    t2 = z * _fm_fma(w, _fm_fma(w, _fm_fma(w, _FM_LG7, _FM_LG5), _FM_LG3), _FM_LG1)
    rr = t2 + t1
    return kd * _FM_LN2_HI - ((hfsq - (s * (hfsq + rr) + (kd * _FM_LN2_LO + c))) - f)


def _fm_log1p_kernel(x, xl):
    # log1p(x + xl) for x > -1 (specials handled by callers), xl a tiny low part
    u = 1.0 + x
    c1 = 1.0 - (u - x)                     # rounding error of u, exact for x >= 1
    c2 = x - (u - 1.0)                     # exact for x < 1
    c = _fm_select(x >= 1.0, c1, c2)
    kd, f = _fm_log_parts(u)
    small = kd == 0.0
    f = _fm_select(small, x, f)            # k == 0: use x itself (no rounding)
    cm = _fm_select(small, xl, c + xl) / u
    y = _fm_log_finish(kd, f, cm)
    return _fm_select(abs(x) < 1e-18, x, y)  # log1p(x) == x here; keeps -0.0


def _fm_body_exp(x):
    """exp(x); subnormal results and overflow to inf as in libm."""
    return _fm_exp_dd(x)[0]


def _fm_body_expm1(x):
    """exp(x) - 1, accurate near 0; expm1(-0.0) = -0.0."""
    xc = _fm_select(x > 709.9, 709.9, x)   # nan passes through the clamps
    xc = _fm_select(xc < -40.0, -40.0, xc)  # expm1(-40) rounds to -1
    y = _fm_expm1_dd(xc)[0]
    return _fm_select(abs(x) < 1e-18, x, y)  # expm1(x) == x here; keeps -0.0


def _fm_body_log(x):
    """Natural log; log(0) = -inf, log(<0) = nan, subnormal inputs handled."""
    sub = x < _FM_MIN_NORMAL
    xs = _fm_select(sub, x * _FM_TWO54, x)  # subnormal -> normal, undo below
    kd, f = _fm_log_parts(xs)
    kd = _fm_select(sub, kd - 54.0, kd)
    y = _fm_log_finish(kd, f, 0.0)
    y = _fm_select(x < _FM_INF, y, x)      # +inf and nan pass through
    y = _fm_select(x == 0.0, -_FM_INF, y)
    return _fm_select(x < 0.0, _FM_NAN, y)


def _fm_body_log1p(x):
    """log(1 + x), accurate near 0; log1p(-1) = -inf, log1p(<-1) = nan."""
    y = _fm_log1p_kernel(x, 0.0)
    y = _fm_select(x < _FM_INF, y, x)      # +inf and nan pass through
    y = _fm_select(x == -1.0, -_FM_INF, y)
    return _fm_select(x < -1.0, _FM_NAN, y)


def _fm_body_tanh(x):
    """tanh(x) via one expm1; odd, saturates to +-1, tanh(-0.0) = -0.0."""
    a = abs(x)
    a = _fm_select(a > 22.0, 22.0, a)      # tanh(22) == 1.0 in double; nan passes
    # fdlibm split, t = expm1(2a) = th + tl:  a < 1: t / (t + 2);
    # a >= 1: 1 - 2 / (t + 2) (rounds correctly up to the saturation at 19.06).
    # The TwoSum error ed of d = th + 2 and tl enter as first-order corrections.
    big = a >= 1.0
    th, tl = _fm_expm1_dd(2.0 * a)
    d = th + 2.0
    bb = d - th
    ed = (th - (d - bb)) + (2.0 - bb)
    q = _fm_select(big, 2.0, th) / d       # one division for both branches
    inv = _fm_select(big, 0.5 * q, 0.5 - 0.5 * q)  # 1/d recovered from q (2/d + th/d == 1)
    q = q + inv * (_fm_select(big, 0.0, tl) - q * (ed + tl))
    z = _fm_select(big, 1.0 - q, q)
    z = _fm_select(x < 0.0, -z, z)
    return _fm_select(a < 3.725290298461914e-09, x, z)  # |x| < 2**-28: tanh(x) == x


def _fm_body_sigmoid(x):
    """1 / (1 + exp(-x)) without overflow; sigmoid(-inf) = 0, sigmoid(inf) = 1."""
    eh, el = _fm_exp_dd(-abs(x))           # exp(-|x|) = eh + el, in [0, 1]
    d = 1.0 + eh
    ed = (1.0 - d) + eh                    # rounding error of d (Fast2Sum)
    q = eh / d                             # sigmoid(-|x|): keeps tiny results exact
    inv = 1.0 - q                          # 1/d recovered from q, no 2nd division
    q = q + inv * (el - q * (ed + el))     # (eh + el) / (d + ed + el) to first order
    return _fm_select(x >= 0.0, 1.0 - q, q)  # sigmoid(x) = 1 - sigmoid(-x); nan -> q


def _fm_body_softplus(x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)), stable for any x."""
    eh, el = _fm_exp_dd(-abs(x))
    m = _fm_select(x > 0.0, x, 0.0)        # nan -> 0 here, nan comes through eh
    return m + _fm_log1p_kernel(eh, el)


# ---------------------------------------------------------------- public functions
_FM_BODIES = {"exp": _fm_body_exp, "expm1": _fm_body_expm1, "log": _fm_body_log, "log1p": _fm_body_log1p,
              "tanh": _fm_body_tanh, "sigmoid": _fm_body_sigmoid, "softplus": _fm_body_softplus}


#: name -> (fast function, libm template): what generated kernels call (see fastmath.py).
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


def fast_function_name(name, lanes=1):
    """The LLVM symbol of fast function ``name`` ("exp", "tanh", ...) on ``lanes`` doubles at once."""
    return f"symdiff_fast_{name}_f64" if lanes == 1 else f"symdiff_fast_{name}_v{lanes}f64"


def declare_fast_function(module, name, lanes=1):
    """The declaration of ``double symdiff_fast_<name>_f64(double)`` in ``module`` (added once);
    ``lanes > 1``: the same on ``<lanes x double>`` vectors."""
    symbol = fast_function_name(name, lanes)
    ty = _FM_F64 if lanes == 1 else ir.VectorType(_FM_F64, lanes)
    return module.globals.get(symbol) or ir.Function(module, ir.FunctionType(ty, [ty]), symbol)


def define_fast_function(module, name, lanes=1):
    """Give ``module`` the body of fast function ``name`` (always inlined: softplus is beyond the
    inliner's size threshold, and inlining is what lets the caller's loop vectorize)."""
    fn = declare_fast_function(module, name, lanes)
    if fn.is_declaration:
        fn.attributes.add("alwaysinline")
        builder = ir.IRBuilder(fn.append_basic_block())
        builder.ret(_FM_BODIES[name](_FmVal(builder, fn.args[0])).v)
    return fn
