"""Training over Dask arrays (issue 17 points 3 and 5) on a LocalCluster of two worker processes: full-batch
L-BFGS reaches the single-process optimum, data-parallel Adam matches one-process steps on the same batches to
1e-10, a dataset larger than a worker's memory limit is processed chunk by chunk, and a worker killed mid-pass
is replaced and the answer is unchanged."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import symdiff as sd
from symdiff.train import Adam
from symdiff.train.distributed import fit_data_parallel, minimize
from tests.test_distributed import within

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

R = np.random.default_rng(1)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def _logistic(features=5):
    X, y, w, b = sd.tensor("X", ("n", features)), sd.tensor("y", ("n",)), sd.tensor("w", (features,)), \
        sd.tensor("b", ())
    z = X @ w + b
    return X, y, [w, b], sd.mean(sd.softplus(z) - y * z), 0.01 * sd.sum(w * w)


def _data(rows=900, features=5, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, features))
    y = (X @ rng.standard_normal(features) + 0.3 * rng.standard_normal(rows) > 0).astype(float)
    return X, y


def test_full_batch_lbfgs_reaches_the_single_process_optimum(client):
    from scipy.optimize import minimize as scipy_minimize

    X_node, y_node, params, loss, penalty = _logistic()
    X, y = _data()
    start = {"w": np.zeros(5), "b": np.array(0.0)}
    result = minimize(loss, params, {X_node: da.from_array(X, chunks=200), y_node: da.from_array(y, chunks=200)},
                      start, penalty=penalty, tol=1e-12)
    local = sd.compile([X_node, y_node, *params], [loss + penalty, *sd.grad(loss + penalty, params)])

    def fun(theta):
        value, gw, gb = local(X, y, theta[:5], theta[5])
        return value, np.append(gw, gb)
    want = scipy_minimize(fun, np.zeros(6), jac=True, method="L-BFGS-B", tol=1e-12)
    np.testing.assert_allclose(np.append(result.values["w"], result.values["b"]), want.x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(result.losses[0], fun(np.zeros(6))[0], rtol=1e-12)
    assert result.scipy_result.success and result.losses[-1] < result.losses[0]


def test_data_parallel_adam_matches_one_process_steps(client):
    X_node, y_node, params, loss, penalty = _logistic()
    X, y = _data()
    start = {"w": R.standard_normal(5), "b": np.array(0.1)}
    order = [2, 0, 1]  # batches of 300 rows, in this order every epoch
    got = fit_data_parallel(loss, params, {X_node: da.from_array(X, chunks=130), y_node: da.from_array(y, chunks=130)},
                            start, Adam(lr=0.05), batch_size=300, epochs=3, penalty=penalty, order=order)
    step = Adam(lr=0.05).compile_step([X_node, y_node], loss + penalty, params, values=start)
    losses = []
    for _ in range(3):
        for k in order:
            losses.append(float(step(X[300 * k:300 * (k + 1)], y[300 * k:300 * (k + 1)])))
    for name, value in step.params.items():
        np.testing.assert_allclose(got.values[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(got.losses, losses, rtol=1e-10)


def test_a_dataset_larger_than_a_workers_memory_is_processed_chunk_by_chunk():
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       memory_limit="200MB")
    try:
        with distributed.Client(cluster):
            X_node, y_node, params, loss, _ = _logistic(features=50)
            # 280 MB of rows generated chunk by chunk on the worker, never whole anywhere
            X = da.random.RandomState(3).standard_normal((700_000, 50), chunks=(25_000, 50))
            y = (da.random.RandomState(4).random_sample(700_000, chunks=25_000) < 0.5).astype(float)
            w = np.full(50, 0.01)
            result = minimize(loss, params, {X_node: X, y_node: y}, {"w": w, "b": np.array(0.0)}, max_iter=1)
            assert len(result.losses) >= 1 and np.isfinite(result.losses[0])
            fn = sd.compile([X_node, y_node, *params], loss)
            partial = [fn(X.blocks[k].compute(), y.blocks[k].compute(), w, 0.0) for k in range(X.numblocks[0])]
            np.testing.assert_allclose(result.losses[0], np.mean(partial), rtol=1e-12)
    finally:
        cluster.close()


def test_a_worker_killed_mid_pass_is_replaced_and_the_answer_is_unchanged():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    try:
        with distributed.Client(cluster) as client:
            X_node, y_node, params, loss, _ = _logistic(features=50)
            X = da.random.RandomState(5).standard_normal((400_000, 50), chunks=(10_000, 50))
            y = (da.random.RandomState(6).random_sample(400_000, chunks=10_000) < 0.5).astype(float)
            start = {"w": np.full(50, 0.01), "b": np.array(0.0)}
            before = client.run(os.getpid)
            victim = sorted(before)[0]
            killer = threading.Timer(0.5, os.kill, (before[victim], signal.SIGKILL))
            killer.start()
            result = minimize(loss, params, {X_node: X, y_node: y}, start, max_iter=1)
            killer.join()
            time.sleep(0.5)
            assert set(client.run(os.getpid).values()) != set(before.values())  # a new worker process took over
            fn = sd.compile([X_node, y_node, *params], loss)
            want = np.mean([fn(X.blocks[k].compute(), y.blocks[k].compute(), start["w"], 0.0)
                            for k in range(X.numblocks[0])])
            np.testing.assert_allclose(result.losses[0], want, rtol=1e-12)
    finally:
        cluster.close()


def _digits_trainer(name):
    from symdiff import nn
    from symdiff.train import Trainer

    x, y = sd.tensor("x", ("batch", 64)), sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([nn.Dense(64, 16, "tanh", name=f"{name}_h"), nn.Dense(16, 10, name=f"{name}_o")], name=name)
    return Trainer(model, x, y, nn.softmax_cross_entropy, Adam(lr=0.01), regularizer=nn.l2(model, 1e-4), seed=3)


def test_a_trainer_fits_on_the_cluster_as_in_one_process(client):
    from symdiff.train import load_dataset

    data = load_dataset("digits")
    X, Y = data.X_train[:400], data.y_train[:400]
    here, there = _digits_trainer("dp_here"), _digits_trainer("dp_there")
    there.step.set_params({k.replace("dp_here", "dp_there"): v for k, v in here.params.items()})
    kept_here = here.fit(X, Y, epochs=3, batch_size=100, validation_split=0.25)
    kept_there = there.fit(X, Y, epochs=3, batch_size=100, validation_split=0.25, scheduler=client)
    for name, value in here.params.items():
        np.testing.assert_allclose(there.params[name.replace("dp_here", "dp_there")], value, rtol=1e-10, atol=1e-12)
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(kept_there[key], kept_here[key], rtol=1e-10, err_msg=key)


def test_a_trainer_with_dropout_fits_on_the_cluster_as_in_one_process():
    # each chunk of a mini-batch draws its rows of the one-process dropout mask (an in-process cluster: fast)
    from symdiff import nn
    from symdiff.train import Trainer

    def trainer():
        x, y = sd.tensor("x", ("batch", 4)), sd.tensor("y", ("batch",), "int64")
        model = nn.Sequential([nn.Dense(4, 8, "tanh", name="dpd_1"), nn.Dropout(0.3, name="dpd_drop"),
                               nn.Dense(8, 3, name="dpd_2")], name="dpd")
        return Trainer(model, x, y, nn.softmax_cross_entropy, Adam(lr=0.01), seed=3)

    X, Y = R.standard_normal((64, 4)), R.integers(0, 3, 64)
    here, there = trainer(), trainer()
    kept_here = here.fit(X, Y, epochs=3, batch_size=16)
    with distributed.Client(processes=False, n_workers=3, threads_per_worker=1, dashboard_address=None) as client:
        kept_there = there.fit(X, Y, epochs=3, batch_size=16, scheduler=client)  # chunks of 6, 6 and 4 rows
    for name, value in here.params.items():
        np.testing.assert_allclose(there.params[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(kept_there["loss"], kept_here["loss"], rtol=1e-10)


def test_a_spec_with_expression_activations_fits_on_worker_processes_as_in_one_process(client):
    # the workers make the spec's ops (an [activations] entry, an inline expression) from the expressions' text
    from symdiff.spec import Spec

    spec = {"name": "dpx", "inputs": 3, "activations": {"dpx_swish": "x*sigmoid(x)"},
            "layers": [{"type": "dense", "units": 4, "activation": "dpx_swish"},
                       {"type": "dense", "units": 4, "activation": "x*tanh(x) + 0.1*x"},
                       {"type": "dense", "units": 2}],
            "loss": {"type": "softmax_cross_entropy"}}
    X, Y = R.standard_normal((40, 3)), R.integers(0, 2, 40)
    here, there = Spec(spec).compile(seed=1), Spec(spec).compile(seed=1)
    kept_here = here.fit(X, Y, epochs=2, batch_size=20)
    kept_there = within(120, there.fit, X, Y, epochs=2, batch_size=20, scheduler=client)
    for name, value in here.params.items():
        np.testing.assert_allclose(there.params[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(kept_there["loss"], kept_here["loss"], rtol=1e-10)


def test_a_trainer_fits_data_larger_than_memory_on_the_cluster_as_in_one_process(client, tmp_path):
    """A chunk directory read block by block, each mini-batch's gradient on the workers: the same steps as the
    same blocks trained in one process."""
    from symdiff.train import load_dataset
    from symdiff.train.chunks import open_chunked, save_chunks

    data = load_dataset("digits")
    save_chunks(tmp_path, data.X_train[:600], data.y_train[:600], rows_per_file=200)
    save_chunks(tmp_path, data.X_test[:100], data.y_test[:100], rows_per_file=50, part="valid")
    parts = open_chunked(tmp_path)
    here, there = _digits_trainer("dp_here"), _digits_trainer("dp_there")
    there.step.set_params({k.replace("dp_here", "dp_there"): v for k, v in here.params.items()})
    kept_here = here.fit(*parts["train"], epochs=2, batch_size=100, validation_data=parts["valid"])
    kept_there = there.fit(*parts["train"], epochs=2, batch_size=100, validation_data=parts["valid"],
                           scheduler=client)
    for name, value in here.params.items():
        np.testing.assert_allclose(there.params[name.replace("dp_here", "dp_there")], value, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(kept_there["val_loss"], kept_here["val_loss"], rtol=1e-10)


def test_the_cli_trains_a_spec_on_a_local_cluster(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    spec = Path(__file__).resolve().parents[1] / "examples" / "specs" / "xor.toml"
    ran = subprocess.run([sys.executable, "-m", "symdiff.cli", "train", str(spec), "--scheduler", "--epochs",
                          "5"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "test:" in ran.stdout


def test_modules_that_update_their_own_state_are_refused_on_a_cluster(client):
    from symdiff import nn
    from symdiff.train import Trainer

    x, y = sd.tensor("x", ("batch", 4)), sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([nn.Dense(4, 4, name="dpbn_d"), nn.BatchNorm(4, name="dpbn_bn"),
                           nn.Dense(4, 2, name="dpbn_o")], name="dpbn")
    trainer = Trainer(model, x, y, nn.softmax_cross_entropy, Adam(lr=0.01))
    with pytest.raises(ValueError, match="dpbn_bn_running_mean"):
        trainer.fit(R.standard_normal((20, 4)), R.integers(0, 2, 20), epochs=1, scheduler=client)
