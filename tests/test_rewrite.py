"""The rewrite engine: each rule family fires where it should (and not where it would be wrong),
the engine's contract (fixpoint, memo, determinism, errors), and a seeded property test over random
graphs built from the op table's elementwise and reduction ops."""

import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symdiff as sd
from symdiff.autodiff import derivative, jvp
from symdiff.ir import toposort
from symdiff.nn.custom import USER_PREFIX
from symdiff.ops import OPS, make
from symdiff.rewrite import (
    DEFAULT_RULES,
    LOCAL_RULES,
    P,
    RewriteCycleError,
    Rule,
    RuleSet,
    Var,
    fingerprint,
    simplify,
)

x, y = sd.tensor("x", (3,)), sd.tensor("y", (3,))
X, Y = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.4, -0.7])


def ops_of(node):
    return sorted(n.op for n in toposort([node]) if n.op not in ("input", "constant"))


def operations(node):
    return len(ops_of(node))


def same_values(a, b, feed):
    np.testing.assert_allclose(sd.evaluate(b, feed), sd.evaluate(a, feed), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("build, expected", [
    (lambda: make("multiply", [x, sd.constant(1.0)]), lambda: x),
    (lambda: make("add", [sd.constant(0.0), x]), lambda: x),
    (lambda: make("negative", [make("negative", [x])]), lambda: x),
    (lambda: make("divide", [x, sd.constant(1.0)]), lambda: x),
    (lambda: make("power", [x, sd.constant(1.0)]), lambda: x),
    (lambda: sd.log(sd.exp(x)), lambda: x),
    (lambda: sd.exp(sd.log(sd.exp(x))), lambda: sd.exp(x)),
    (lambda: sd.where(x > 0, sd.tanh(x), sd.tanh(x)), lambda: sd.tanh(x)),
], ids=["x*1", "0+x", "-(-x)", "x/1", "x**1", "log(exp)", "exp(log(nonnegative))", "where(c,x,x)"])
def test_identities(build, expected):
    assert simplify(build()) is expected()


def test_views_fuse():
    m = sd.tensor("m", (2, 3, 4))
    perm = make("transpose", [make("transpose", [m], perm=(1, 0, 2))], perm=(2, 1, 0))
    assert ops_of(simplify(perm)) == ["transpose"]
    assert simplify(make("transpose", [make("transpose", [m], perm=(1, 0, 2))], perm=(1, 0, 2))) is m
    assert simplify(make("reshape", [make("reshape", [m], shape=(6, 4))], shape=(24,))).inputs == (m,)
    assert simplify(make("reshape", [make("reshape", [m], shape=(6, 4))], shape=(2, 3, 4))) is m


def test_zero_products_and_differences_fold_only_for_finite_operands():
    for zero in (simplify(x * 0.0), simplify(sd.tanh(x) - sd.tanh(x))):
        # zeros of x's shape: a broadcast scalar (folding never makes a constant larger than its operands)
        assert zero is sd.zeros((3,)) and zero.inputs[0].op == "constant"
    # log(x) is -inf at 0 and NaN below: 0 * log(x) must stay NaN there, so it is kept.
    unsafe = simplify(sd.log(x) * 0.0)
    assert "log" in ops_of(unsafe)
    values = sd.evaluate(unsafe, {x: np.array([0.0, -1.0, 2.0])})
    assert np.isnan(values[0]) and np.isnan(values[1]) and values[2] == 0.0
    assert "log" in ops_of(simplify(sd.log(x) - sd.log(x)))
    # a finite float64 above 3.4e38 is inf as a float32: its narrowing is kept (it folded, third bug hunt)
    narrowed = sd.cast(x, "float32")
    assert "cast" in ops_of(simplify(narrowed * 0.0)) and "cast" in ops_of(simplify(narrowed - narrowed))
    assert simplify(sd.cast(sd.cast(x, "float32"), "float64") * 0.0).op != "broadcast_to"


def test_exp_of_log_needs_a_nonnegative_argument():
    assert simplify(sd.exp(sd.log(sd.abs(x)))) is sd.abs(x)
    kept = simplify(sd.exp(sd.log(x)))
    assert ops_of(kept) == ["exp", "log"]
    assert np.isnan(sd.evaluate(kept, {x: np.array([-1.0, 1.0, 2.0])})[0])


def test_like_terms_are_collected():
    t = sd.tanh(x)
    assert simplify(t + t) is simplify(2.0 * t)
    assert ops_of(simplify(3.0 * t - t + y * t - t * y)) == ["multiply", "tanh"]
    messy = (t * y + y * t) - 2.0 * (y * t) + t
    assert simplify(messy) is t
    same_values(messy, simplify(messy), {x: X, y: Y})


def test_commutative_operands_get_one_order():
    assert simplify(x * y) is simplify(y * x)
    assert simplify((x + 2.0) * y) is simplify(y * (2.0 + x))
    # maximum/minimum keep theirs: a tie of -0.0 and 0.0 returns the second operand
    assert simplify(sd.maximum(y, x)).inputs == (y, x) and simplify(sd.minimum(0.0, x)).inputs[1] is x


def test_sum_of_a_broadcast_multiplies_by_the_count():
    s = sd.scalar("s")
    out = simplify(sd.sum(sd.broadcast_to(s, (3, 4))))
    assert ops_of(out) == ["multiply"] and float(sd.evaluate(out, {s: 1.5})) == 18.0
    v = sd.tensor("v", ("n", 1))
    partial = sd.sum(sd.broadcast_to(v, (2, "n", 5)), axis=(0, 2))
    simple = simplify(partial)
    assert "sum" not in ops_of(simple) and simple.shape == ("n",)
    same_values(partial, simple, {v: np.arange(4.0).reshape(4, 1)})
    mixed = sd.sum(sd.broadcast_to(v, (2, "n", 5)), axis=(0, 1), keepdims=True)
    same_values(mixed, simplify(mixed), {v: np.arange(4.0).reshape(4, 1)})


def test_broadcast_chains_collapse_into_implicit_broadcasting():
    s, m = sd.scalar("s"), sd.tensor("m", ("b", 4))
    spread = sd.broadcast_to(sd.reshape(sd.broadcast_to(sd.reshape(s, (1,)), ("b",)), ("b", 1)), ("b", 4))
    out = simplify(m * spread)
    assert ops_of(out) == ["multiply"]
    same_values(m * spread, out, {s: 2.0, m: np.ones((3, 4))})


def test_an_op_of_broadcast_constants_is_a_broadcast_constant():
    # a seed's ones times a factor (a Hessian's tangent): folded once and broadcast, so every loop inlines it where
    # a product of two inputs would be stored as an array
    spread = sd.broadcast_to(sd.constant(1.0), (2, 3))
    out = simplify(200.0 * spread - sd.constant(np.array([1.0, 2.0, 3.0])))
    assert ops_of(out) == ["broadcast_to"]
    np.testing.assert_array_equal(sd.evaluate(out, {}), [[199.0, 198.0, 197.0]] * 2)
    v = sd.tensor("v", (2, 3))
    assert ops_of(simplify(v * spread)) == []  # an input's product keeps the rule that drops the broadcast


def test_stability_rewrites():
    # sd.log builds the stable forms of these logs itself (test_singular_derivatives.py); the rules rewrite the
    # log ops that other rewrites make
    def raw_log(p):
        return make("log", [p])

    logits = sd.tensor("logits", (2, 3))
    assert simplify(raw_log(sd.softmax(logits))) is simplify(sd.log_softmax(logits))
    z = sd.scalar("z")
    assert ops_of(simplify(raw_log(sd.sigmoid(z)))) == ["negative", "negative", "softplus"]
    assert float(sd.evaluate(simplify(raw_log(sd.sigmoid(z))), {z: -1000.0})) == -1000.0
    assert np.isinf(sd.evaluate(raw_log(sd.sigmoid(z)), {z: -1000.0}))
    tiny = {z: 1e-18}
    assert float(sd.evaluate(simplify(sd.log(1.0 + z)), tiny)) == 1e-18
    assert float(sd.evaluate(simplify(sd.exp(z) - 1.0), tiny)) == 1e-18
    assert float(sd.evaluate(sd.exp(z) - 1.0, tiny)) == 0.0


def test_simplify_keeps_shapes_dtypes_and_float32():
    a = sd.tensor("a", (2, 3), "float32")
    out = simplify(sd.sum(a * 1.0 + a, axis=0) - 0.0)
    assert out.dtype == "float32" and out.shape == (3,)
    assert all(n.dtype != "float64" for n in toposort([out]))


def test_simplify_is_idempotent_memoised_and_takes_lists():
    g = sd.grad(sd.sum(sd.tanh(x * y) ** 2), x)
    once = simplify([g, g * 1.0])
    assert isinstance(once, list) and once[0] is once[1]
    assert all(a is b for a, b in zip(simplify(once), once))
    assert simplify(g) is once[0]


def test_simplify_keeps_the_smaller_result_of_its_two_tables():
    s = sd.scalar("s")
    f = sd.tanh(sd.tanh(sd.tanh(s)))
    reverse = f
    for _ in range(5):  # nested reverse passes: adjoint sums shared everywhere, collecting across them costs nodes
        reverse = sd.vjp(reverse, s, sd.constant(1.0))
    forward = derivative(f, s, 4)
    forward = jvp(forward, s, sd.constant(1.0))  # Leibniz sums with repeated terms: collecting pays
    for graph, winner in ((reverse, LOCAL_RULES), (forward, DEFAULT_RULES)):
        loser = DEFAULT_RULES if winner is LOCAL_RULES else LOCAL_RULES
        assert operations(winner.simplify(graph)) < operations(loser.simplify(graph))
        assert simplify(graph) is winner.simplify(graph)


def test_deep_graphs_do_not_recurse():
    z = x
    for k in range(1500):  # deeper than Python's recursion limit
        z = sd.tanh(z) + 0.5 * z if k % 2 else -z
    out = simplify(z)
    same_values(z, out, {x: X})


def test_output_is_the_same_in_every_process():
    code = ("import symdiff as sd; from symdiff.rewrite import fingerprint; from symdiff.autodiff import derivative;"
            "x = sd.scalar('x'); print(fingerprint(derivative(sd.tanh(sd.tanh(x)), x, 3)).hex())")
    root = str(Path(sd.__file__).parent.parent)
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PYTHONPATH": root}).stdout for seed in ("1", "2")]
    assert runs[0] == runs[1]
    s = sd.scalar("x")
    assert runs[0].strip() == fingerprint(derivative(sd.tanh(sd.tanh(s)), s, 3)).hex()


def test_custom_rule_tables_and_their_errors():
    double = RuleSet([Rule("tanh -> sin", P.tanh(Var("a")), lambda m: sd.sin(m.a))])
    assert double.simplify(sd.tanh(sd.tanh(x))) is sd.sin(sd.sin(x))
    cycle = RuleSet([Rule("sin -> cos", P.sin(Var("a")), lambda m: sd.cos(m.a)),
                     Rule("cos -> sin", P.cos(Var("a")), lambda m: sd.sin(m.a))])
    with pytest.raises(RewriteCycleError, match="keep rewriting"):
        cycle.simplify(sd.sin(x))
    with pytest.raises(ValueError, match="unknown ops.*'tanhh'"):
        RuleSet([Rule("typo", P.tanhh(Var("a")), lambda m: m.a)])
    widen = RuleSet([Rule("bad", P.exp(Var("a")), lambda m: sd.tensor("wide", (5,)))])
    with pytest.raises(sd.ShapeError, match=r"\(5,\).*\(3,\)"):
        widen.simplify(sd.exp(x))
    with pytest.raises(TypeError, match="expected symdiff nodes"):
        simplify([x, 2.0])


# ---- property test: random graphs from the op table, evaluated before and after simplify ----

#: How to call the elementwise/reduction ops whose builders take more than tensors.
SPECIAL = {
    "cast": lambda a: sd.cast(sd.cast(a, "float32"), "float64"),
    "broadcast_to": lambda a: sd.broadcast_to(a, (2,) + a.shape),
    "count": lambda a: sd.count(a, axis=-1) * a if a.ndim else a,
    "sum": lambda a: sd.sum(a, axis=-1, keepdims=a.ndim > 1) if a.ndim else a,
    "max": lambda a: sd.max(a, axis=0) if a.ndim else a,
    "tanh_grad": lambda a: make("tanh_grad", [sd.tanh(a), a]),  # only tanh's derivative builds it
    "min": lambda a: sd.min(a, axis=-1, keepdims=True) if a.ndim else a,
    "max_of": lambda a, b: sd.max_of(a, b, a * b),
}
#: Composites whose patterns the rules look for; ``make`` builds nodes the builders would pre-simplify.
COMPOSITES = [
    lambda a: sd.log(sd.softmax(a)) if a.ndim else a, lambda a: sd.log(sd.sigmoid(a)),
    lambda a: sd.log(1.0 + a * a), lambda a: sd.exp(a) - 1.0, lambda a: a - a, lambda a: a + a,
    lambda a: sd.mean(a, axis=0) if a.ndim else a, lambda a, b: a * b - b * a + a,
    lambda a: sd.exp(sd.log(sd.abs(a))), lambda a: sd.log(sd.exp(a)), lambda a: make("negative", [-a]),
    lambda a: make("reshape", [make("reshape", [a], shape=(1,) + a.shape)], shape=a.shape + (1,)),
    lambda a: make("transpose", [make("transpose", [a], perm=(1, 0))], perm=(1, 0)) if a.ndim == 2 else a,
    lambda a: sd.sum(sd.broadcast_to(a, (2,) + a.shape), axis=0), lambda a: 2.0 * (3.0 * a) + (1.0 + (2.0 + a)),
    lambda a, b: make("power", [a, b]) * make("power", [b, sd.constant(0.0)]),
]
#: Binary arithmetic built raw, so constant operands (0, 1, -1) reach the engine.
RAW = {"add", "subtract", "multiply", "divide", "maximum", "minimum"}
def _builders():
    table = []
    for name, op in sorted(OPS.items()):
        if op.kind not in ("elementwise", "reduction") or name.startswith(USER_PREFIX):
            continue
        build = SPECIAL.get(name) or getattr(sd, name, None)
        if name in RAW:
            build = (lambda n: lambda p, q: make(n, [p, q]))(name)
        assert build is not None, f"op {name!r} has no builder: add it to SPECIAL"
        params = inspect.signature(build).parameters.values()
        arity = sum(p.default is inspect.Parameter.empty for p in params)
        table.append((name, build, arity))
    return table + [(f"composite{k}", f, len(inspect.signature(f).parameters)) for k, f in enumerate(COMPOSITES)]


def _random_graph(rng, builders, leaves, steps=10):
    """Random ops over recent nodes; logs of constant leaves fold to inf/NaN constants, silently."""
    pool = list(leaves)
    for _ in range(steps):
        name, build, arity = builders[rng.integers(len(builders))]
        args = [pool[-1 - rng.integers(min(len(pool), 4))] for _ in range(arity)]
        if name == "where":
            args[0] = args[0] > 0.0
        try:
            with np.errstate(all="ignore"):
                node = build(*args)
        except (sd.ShapeError, TypeError):
            continue
        if node.dtype == "bool":
            node = sd.cast(node, "float64")
        pool.append(sd.cast(node, "float64"))
    return pool[len(leaves):]


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_keep_their_values(seed):
    rng = np.random.default_rng(seed)
    a, b, c = sd.tensor("a", (2, 3)), sd.tensor("b", (3,)), sd.scalar("c")
    leaves = [a, b, c, sd.constant(1.0), sd.constant(0.0), sd.constant(-1.0), a, b, c]
    outputs = _random_graph(rng, _builders(), leaves)
    loss = sum(sd.sum(out * (k + 1.0)) for k, out in enumerate(outputs))
    outputs += sd.grad(loss, [a, b, c])  # derivative graphs exercise the view and broadcast rules
    feed = {a: rng.uniform(-2, 2, (2, 3)), b: rng.uniform(-2, 2, 3), c: rng.uniform(-2, 2)}
    simple = simplify(outputs)
    for before, after in zip(sd.evaluate(outputs, feed), sd.evaluate(simple, feed)):
        assert before.shape == after.shape and before.dtype == after.dtype
        finite = np.isfinite(before)
        scale = 1.0 + np.max(np.abs(before[finite]), initial=0.0)
        np.testing.assert_allclose(after[finite], before[finite], rtol=1e-9, atol=1e-9 * scale)
    assert all(p is q for p, q in zip(simplify(simple), simple))


def test_random_graphs_cover_every_elementwise_and_reduction_op():
    names = {name for name, _, _ in _builders()}
    builtin = {n for n, op in OPS.items() if not n.startswith(USER_PREFIX)}
    assert {n for n in builtin if OPS[n].kind in ("elementwise", "reduction")} <= names
