"""Compiled functions travel (issue 17 point 1): they pickle by their graph and options (never machine code), and
another process rebuilds them from its kernel cache or compiles once; results equal the parent's bit for bit."""

import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
import sympy

import symdiff as sd
from symdiff import nn

R = np.random.default_rng(0)
X, W = R.standard_normal((6, 3)), R.standard_normal(3)


def _step():
    x, w = sd.tensor("x", ("batch", 3)), sd.tensor("w", (3,))
    loss = sd.mean(sd.tanh(x @ w) ** 2) + sd.sum(sd.constant(np.arange(3.0)) * w)
    return sd.compile([x, w], [loss, sd.grad(loss, w)], {w: w - 0.1 * sd.grad(loss, w)}, fuse=False)


def _call_step(fn, x, w):
    w = w.copy()
    outputs = fn(x, w)
    return outputs, w, fn.options, fn.backend


def _call_sympy(kernel, points):
    return kernel(points)


def test_a_compiled_function_pickles_by_its_graph_and_runs_in_spawned_processes():
    fn = _step()
    blob = pickle.dumps(fn)
    assert b"ELF" not in blob and len(blob) < 4000  # the graph and options, not machine code
    w = W.copy()
    want = fn(X, w)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_call_step, [fn, fn], [X, X], [W, W]))
    for outputs, updated, options, backend in results:
        for got, expected in zip(outputs, want):
            np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(updated, w)
        assert options["fuse"] is False and backend == "native"


def test_compile_sympy_kernels_pickle_by_their_expressions():
    a, b = sympy.symbols("a b")
    kernel = sd.compile_sympy([sympy.sin(a) * b ** 2, sympy.exp(a - b)], [a, b])
    points = R.standard_normal((5, 2))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        got = pool.submit(_call_sympy, kernel, points).result()
    for key, value in kernel(points).items():
        np.testing.assert_array_equal(got[key], value)


def test_unpickling_names_an_op_this_process_does_not_define(monkeypatch):
    from symdiff.ops import OPS
    from symdiff.ops.registry import MAKERS

    swish = nn.elementwise("pickled_swish", "x*sigmoid(x)")
    x = sd.tensor("x", (3,))
    blob = pickle.dumps(sd.compile([x], swish(x)))
    monkeypatch.delitem(OPS, "user.pickled_swish")
    monkeypatch.delitem(MAKERS, "elementwise")  # a process that cannot make it
    with pytest.raises(ValueError, match="op 'user.pickled_swish' is not defined in this process"):
        pickle.loads(blob)


def _user_op_gradient():
    # a float literal that only its full repr reads back to, and a derivative op (user.pickled_mish.d1)
    mish = nn.elementwise("pickled_mish", "x*tanh(log(1 + exp(x))) + 0.30000000000000004*x**1.5")
    x = sd.tensor("x", ("batch",))
    loss = sd.mean(mish(sd.abs(x)))
    return sd.compile([x], [loss, sd.grad(loss, x)])


def test_a_user_op_travels_with_the_function_as_its_expression_and_is_made_in_a_spawned_process():
    fn = _user_op_gradient()
    assert b"pickled_mish" in pickle.dumps(fn) and b"sympy" not in pickle.dumps(fn)  # text, no SymPy objects
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        got = pool.submit(_call_loop, fn, (X[:, 0],)).result()
    for g, w in zip(got, fn(X[:, 0])):
        np.testing.assert_array_equal(g, w)


def test_a_user_op_meaning_something_else_here_is_refused_naming_both(monkeypatch):
    from symdiff.nn import custom
    from symdiff.ops import OPS

    fn = _user_op_gradient()
    blob = pickle.dumps(fn)
    for op in [op for op in OPS if op.startswith("user.pickled_mish")]:
        monkeypatch.delitem(OPS, op)
    monkeypatch.delitem(custom._MODULES, "pickled_mish")
    monkeypatch.delitem(nn.ACTIVATIONS, "pickled_mish")
    nn.elementwise("pickled_mish", "2*x")  # this process's pickled_mish
    with pytest.raises(ValueError, match=r"op 'user.pickled_mish' computes Mul\(Integer\(2\), Symbol\('x'.* in this "
                                         r"process, but Add\(.* where it was pickled"):
        pickle.loads(blob)
    monkeypatch.delitem(OPS, "user.pickled_mish")  # the module is here, its op is not: made from the module's text
    with pytest.raises(ValueError, match=r"cannot make op 'user.pickled_mish' here: .*'pickled_mish' is already "
                                         r"defined as 2\*x, not"):
        pickle.loads(blob)


def _loop_step():
    xs, U, h0 = sd.tensor("xs", (4, "batch", 2)), sd.tensor("U", (2, 2)), sd.tensor("h0", ("batch", 2))
    hs = sd.scan(lambda h, x_t: sd.tanh(x_t + h @ U), h0, xs)
    loss = sd.sum(hs ** 2)
    return sd.compile([xs, U, h0], [loss, sd.grad(loss, U)])


def test_compiled_loops_pickle_with_their_bodies_and_unpickle_once_per_process():
    fn = _loop_step()
    args = (R.standard_normal((4, 3, 2)), R.standard_normal((2, 2)), R.standard_normal((3, 2)))
    blob = pickle.dumps(fn)
    again = pickle.loads(blob)
    for got, want in zip(again(*args), fn(*args)):
        np.testing.assert_array_equal(got, want)
    assert pickle.loads(blob) is again  # a second unpickle in this process reuses the first: no kernel load
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        got = pool.submit(_call_loop, fn, args).result()
    for g, w in zip(got, fn(*args)):
        np.testing.assert_array_equal(g, w)


def _call_loop(fn, args):
    return fn(*args)


def _node_value(node, feed):
    return sd.evaluate(node, feed)


def test_nodes_copy_as_themselves_and_pickle_by_their_graph():
    # copy.copy, copy.deepcopy and pickle of a node raised "Node.__new__() missing 5 required positional arguments"
    import copy

    swish = nn.elementwise("pickled_node_swish", "x*sigmoid(x)")
    x = sd.tensor("x", ("batch", 3))
    node = sd.sum(swish(x) * sd.constant(np.arange(3.0)))
    assert copy.copy(node) is node and copy.deepcopy([node, x])[0] is node  # immutable and interned
    assert pickle.loads(pickle.dumps(node)) is node
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:  # the user op travels
        got = pool.submit(_node_value, node, {"x": X}).result()
    assert got == sd.evaluate(node, {x: X})


def test_a_trainer_deep_copies_and_pickles_and_trains_on_from_the_same_state():
    import copy

    model = nn.Sequential([nn.Dense(3, 4, activation="tanh", name="pickled_d1"), nn.Dense(4, 1, name="pickled_d2")])
    x, y = sd.tensor("x", ("batch", 3)), sd.tensor("y", ("batch", 1))
    trainer = sd.train.Trainer(model, x, y, nn.squared_error, sd.train.SGD(lr=0.1), seed=3)
    targets = X @ W[:, None]
    trainer.fit(X, targets, epochs=1, batch_size=3, progress=False)
    twins = [copy.deepcopy(trainer), pickle.loads(pickle.dumps(trainer))]
    trainer.fit(X, targets, epochs=1, batch_size=3, progress=False)
    for twin in twins:
        twin.fit(X, targets, epochs=1, batch_size=3, progress=False)
        np.testing.assert_array_equal(twin(X), trainer(X))
