"""Data-parallel evaluation on Dask (issue 17 points 2 and 4) on a LocalCluster of two worker processes: a mean
loss and its gradient over a chunked dataset, and a compile_sympy Hessian over chunked points, equal the
single-process results to rounding."""

import numpy as np
import pytest
import sympy

import symdiff as sd

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
from symdiff.distributed import map_points, map_reduce  # noqa: E402

R = np.random.default_rng(0)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def _logistic():
    X, y, w = sd.tensor("X", ("n", 4)), sd.tensor("y", ("n",)), sd.tensor("w", (4,))
    loss = sd.mean(sd.softplus(X @ w) - y * (X @ w)) + 0.01 * sd.sum(w * w)
    return [X, y, w], loss


def test_a_mean_loss_and_its_gradient_over_chunks_equal_the_single_process_values(client):
    inputs, loss = _logistic()
    w = inputs[2]
    data_loss = loss - 0.01 * sd.sum(w * w)  # the per-example mean only: the penalty is added once, after
    fn = sd.compile(inputs, [data_loss, sd.grad(data_loss, w)])
    X = R.standard_normal((1000, 4))
    y = (R.random(1000) < 0.5).astype(float)
    w0 = R.standard_normal(4)
    want = fn(X, y, w0)
    got = map_reduce(fn, [da.from_array(X, chunks=(137, 4)), da.from_array(y, chunks=137), w0], reduce="mean")
    for g, v in zip(got, want):
        np.testing.assert_allclose(g, v, rtol=1e-12)
    total = sd.compile(inputs, sd.sum(sd.softplus(inputs[0] @ w)))
    np.testing.assert_allclose(map_reduce(total, [da.from_array(X, chunks=250), da.from_array(y, chunks=250), w0],
                                          reduce="sum"),
                               total(X, y, w0), rtol=1e-12)


def test_random_draws_over_the_rows_give_the_single_process_mask_in_every_chunk():
    # dropout: each chunk draws the rows of the whole call's mask (local threads: no cluster needed)
    from symdiff import nn

    x, y = sd.tensor("x", ("batch", 3)), sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([nn.Dense(3, 5, "tanh", name="mrd_1"), nn.Dropout(0.5, name="mrd_drop"),
                           nn.Dense(5, 2, name="mrd_2")], name="mrd")
    params = list(model.parameters.values())
    loss = nn.softmax_cross_entropy(model(x, training=True), y)
    fn = sd.compile([x, y, nn.dropout_seed(), *params], [loss, *sd.grad(loss, params)])
    X, Y, values = R.standard_normal((40, 3)), R.integers(0, 2, 40), list(model.init(1).values())
    want = fn(X, Y, 11, *values)
    got = map_reduce(fn, [da.from_array(X, chunks=(7, 3)), da.from_array(Y, chunks=7), 11, *values])
    for g, v in zip(got, want):
        np.testing.assert_allclose(g, v, rtol=1e-12, atol=1e-14)


def test_random_draws_chunks_cannot_reproduce_are_refused():
    x, s = sd.tensor("x", ("n", 3)), sd.tensor("s", (), "int64")
    X = da.from_array(R.standard_normal((6, 3)), chunks=(2, 3))
    across = sd.compile([x, s], sd.sum(sd.random_uniform(s, (3, "n")) @ x))  # the rows on the second axis
    with pytest.raises(ValueError, match=r"map_reduce: .*random_uniform.* draws over the rows of 'n'.*axis 1"):
        map_reduce(across, [X, 7], "sum")
    counted = sd.compile([x, s], sd.sum(sd.random_uniform(s + sd.cast(sd.sum(x), "int64"), ("n", 3)) * x))
    with pytest.raises(ValueError, match=r"map_reduce: .*seed.* read.* rows"):
        map_reduce(counted, [X, 7], "sum")


def within(seconds, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, failing the test rather than hanging when it has not returned after ``seconds``."""
    import threading

    done = {}
    worker = threading.Thread(target=lambda: done.update(_call(fn, *args, **kwargs)), daemon=True)
    worker.start()
    worker.join(seconds)
    if not done:
        pytest.fail(f"{fn.__name__} hung for {seconds} s")
    if "error" in done:
        raise done["error"]
    return done["value"]


def _call(fn, *args, **kwargs):
    try:
        return {"value": fn(*args, **kwargs)}
    except Exception as exc:  # noqa: BLE001 - re-raised in the test's thread
        return {"error": exc}


def test_user_ops_made_only_here_are_made_on_the_worker_processes(client):
    from symdiff import nn

    swish = nn.elementwise("dist_swish", "x*sigmoid(x)")
    inputs, _ = _logistic()
    X, y, w = inputs
    loss = sd.mean(swish(X @ w) - y * (X @ w))
    fn = sd.compile(inputs, [loss, sd.grad(loss, w)])  # reads user.dist_swish and user.dist_swish.d1
    Xs, ys, w0 = R.standard_normal((300, 4)), (R.random(300) < 0.5).astype(float), R.standard_normal(4)
    got = within(120, map_reduce, fn, [da.from_array(Xs, chunks=(100, 4)), da.from_array(ys, chunks=100), w0])
    for g, v in zip(got, fn(Xs, ys, w0)):
        np.testing.assert_allclose(g, v, rtol=1e-12)


def test_a_function_a_worker_cannot_unpickle_raises_here_instead_of_hanging(client):
    from symdiff import nn

    client.run(nn.elementwise, "dist_clash", "2*x")  # the workers' dist_clash is not the driver's
    clash = nn.elementwise("dist_clash", "3*x")
    x = sd.tensor("x", ("n", 2))
    fn = sd.compile([x], sd.mean(clash(x)))
    with pytest.raises(ValueError, match=r"op 'user.dist_clash' computes Mul\(Integer\(2\), .* in this process, "
                                         r"but Mul\(Integer\(3\), .* where it was pickled"):
        within(120, map_reduce, fn, [da.from_array(np.ones((4, 2)), chunks=(2, 2))])


def test_compile_sympy_points_in_chunks(client):
    a, b = sympy.symbols("a b")
    kernel = sd.compile_sympy(sympy.sin(a * b) + a ** 3, [a, b])
    points = R.standard_normal((500, 2))
    lazy = map_points(kernel, da.from_array(points, chunks=(120, 2)))
    want = kernel(points)
    for key, value in lazy.items():
        np.testing.assert_allclose(value.compute(), want[key], rtol=1e-13)


def test_bad_calls_are_named():
    inputs, loss = _logistic()
    fn = sd.compile(inputs, loss)
    X, y = np.ones((4, 4)), np.ones(4)
    with pytest.raises(ValueError, match="no argument is a dask.array"):
        map_reduce(fn, [X, y, np.ones(4)])
    with pytest.raises(ValueError, match=r"fn takes 3 arguments \(X, y, w\), got 2"):
        map_reduce(fn, [da.from_array(X, chunks=2), np.ones(4)])
    with pytest.raises(ValueError, match="chunked along axis 0 only"):
        map_reduce(fn, [da.from_array(X, chunks=(2, 2)), da.from_array(y, chunks=2), np.ones(4)])
    with pytest.raises(ValueError, match="'sum' or 'mean'"):
        map_reduce(fn, [da.from_array(X, chunks=2), da.from_array(y, chunks=2), np.ones(4)], reduce="max")
    stepped = sd.compile(inputs, loss, {inputs[2]: inputs[2] * 0.5})
    with pytest.raises(ValueError, match="updates parameters in place"):
        map_reduce(stepped, [da.from_array(X, chunks=2), da.from_array(y, chunks=2), np.ones(4)])
