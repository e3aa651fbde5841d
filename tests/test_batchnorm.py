"""Batch normalization (issue 16 point 3): training-mode values and derivatives, running statistics updated inside
the compiled training step (both backends) against a NumPy implementation over several steps, inference with the
running statistics, saving and loading them with the model, and the spec layer."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from symdiff.train import SGD, Trainer
from tests.test_nn_checks import check_second_order

R = np.random.default_rng(5)
EPS, MOMENTUM = 1e-5, 0.2


def _normalize(x, mean, var, gamma, beta):
    return gamma * (x - mean) / np.sqrt(var + EPS) + beta


def test_training_and_inference_values_and_derivatives():
    layer = nn.BatchNorm(3, momentum=MOMENTUM, name="bn_values")
    x = sd.tensor("x", ("batch", 2, 3))  # channels last: statistics over the batch and the spatial axis
    X = R.standard_normal((4, 2, 3)) * 2 + 1
    values = {layer.gamma: np.array([1.0, 2.0, 0.5]), layer.beta: np.array([0.0, -1.0, 1.0]),
              layer.running_mean: np.array([0.1, 0.2, 0.3]), layer.running_var: np.array([1.0, 2.0, 3.0])}
    feed = {x: X, **values}
    flat = X.reshape(-1, 3)
    want = _normalize(X, flat.mean(0), flat.var(0), values[layer.gamma], values[layer.beta])
    np.testing.assert_allclose(sd.evaluate(layer(x, training=True), feed), want, rtol=1e-12)
    want = _normalize(X, values[layer.running_mean], values[layer.running_var], values[layer.gamma],
                      values[layer.beta])
    np.testing.assert_allclose(sd.evaluate(layer(x), feed), want, rtol=1e-12)
    loss = sd.sum(sd.tanh(layer(x, training=True)) * sd.constant(R.standard_normal((2, 3))))
    sd.check_grad(loss, [x, layer.gamma, layer.beta], feed)
    check_second_order(loss, [x, layer.gamma], feed)


def _numpy_steps(X_batches, Y_batches, W, gamma, beta, lr):
    """SGD on mean squared error of batchnorm(x @ W), and the running statistics, step by step."""
    mean_run, var_run = np.zeros(W.shape[1]), np.ones(W.shape[1])
    for X, Y in zip(X_batches, Y_batches):
        h = X @ W
        mu, var = h.mean(0), h.var(0)
        n = len(X)
        mean_run = (1 - MOMENTUM) * mean_run + MOMENTUM * mu
        var_run = (1 - MOMENTUM) * var_run + MOMENTUM * var * n / (n - 1)
        xhat = (h - mu) / np.sqrt(var + EPS)
        out = gamma * xhat + beta
        g_out = 2 * (out - Y) / out.size
        g_gamma, g_beta = (g_out * xhat).sum(0), g_out.sum(0)
        g_xhat = g_out * gamma
        g_h = (g_xhat - g_xhat.mean(0) - xhat * (g_xhat * xhat).mean(0)) / np.sqrt(var + EPS)
        W, gamma, beta = W - lr * X.T @ g_h, gamma - lr * g_gamma, beta - lr * g_beta
    return {"W": W, "gamma": gamma, "beta": beta, "running_mean": mean_run, "running_var": var_run}


def _dense_batchnorm_step(prefix, backend, reduce):
    """SGD on ``reduce((batchnorm(x @ W) - y) ** 2)``: the input, the model, its starting values and the step."""
    x, y = sd.tensor("x", ("batch", 3)), sd.tensor("y", ("batch", 2))
    model = nn.Sequential([nn.Dense(3, 2, bias=False, name=f"{prefix}_{backend}_d"),
                           nn.BatchNorm(2, momentum=MOMENTUM, name=f"{prefix}_{backend}_bn")],
                          name=f"{prefix}_{backend}")
    loss = reduce((model(x, training=True) - y) ** 2)
    start = nn.initial_values(model.parameters.values(), seed=0)
    return x, model, start, SGD(lr=0.1).compile_step([x, y], loss, model, values=start, backend=backend)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_running_statistics_follow_numpy_over_several_steps(backend):
    _, _, start, step = _dense_batchnorm_step("bns", backend, sd.mean)
    batches = [(R.standard_normal((5, 3)), R.standard_normal((5, 2))) for _ in range(4)]
    for X, Y in batches:
        step(X, Y)
    want = _numpy_steps([b[0] for b in batches], [b[1] for b in batches], start[f"bns_{backend}_d_W"],
                        start[f"bns_{backend}_bn_gamma"], start[f"bns_{backend}_bn_beta"], 0.1)
    for name, value in want.items():
        full = f"bns_{backend}_d_W" if name == "W" else f"bns_{backend}_bn_{name}"
        np.testing.assert_allclose(step.params[full], value, rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_an_empty_batch_leaves_the_running_statistics_and_weights_as_they_were(backend):
    # the mean of no examples is nan; the running statistics keep their values rather than turn nan for good
    x, model, _, step = _dense_batchnorm_step("bne", backend, sd.sum)
    step(R.standard_normal((5, 3)), R.standard_normal((5, 2)))
    before = {name: value.copy() for name, value in step.params.items()}
    assert step(np.zeros((0, 3)), np.zeros((0, 2))) == 0.0
    for name, value in before.items():
        np.testing.assert_array_equal(step.params[name], value, err_msg=name)
    feed = {x: np.zeros((0, 3)), **{model.parameters[name]: value for name, value in before.items()}}
    for state, new in model.state_updates().items():  # the reference interpreter agrees
        np.testing.assert_array_equal(sd.evaluate(new, feed), before[state.name])


def test_a_trained_model_predicts_with_its_running_statistics_after_saving(tmp_path):
    x, y = sd.tensor("x", ("batch", 4)), sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([nn.Dense(4, 8, name="bnt_d1"), nn.BatchNorm(8, name="bnt_bn"),
                           nn.Activation("relu", name="bnt_a"), nn.Dense(8, 3, name="bnt_d2")], name="bnt")
    trainer = Trainer(model, x, y, nn.softmax_cross_entropy, SGD(lr=0.1))
    X, Y = R.standard_normal((60, 4)) * 3 + 2, R.integers(0, 3, 60)
    trainer.fit(X, Y, epochs=3, batch_size=10)
    assert not np.allclose(trainer.step.params["bnt_bn_running_var"], 1.0, atol=0.05)  # moved from its start
    loaded = Trainer(model, x, y, nn.softmax_cross_entropy, SGD(lr=0.1))
    loaded.load_state(trainer.save(tmp_path / "bundle"))
    np.testing.assert_array_equal(loaded.step.params["bnt_bn_running_var"], trainer.step.params["bnt_bn_running_var"])
    np.testing.assert_array_equal(loaded.predict(X[:7]), trainer.predict(X[:7]))
    with_stats = sd.evaluate(model(x), {x: trainer._inputs(X[:7]), **trainer.step.params})
    np.testing.assert_allclose(trainer.predict(X[:7]), with_stats, rtol=1e-12)


def test_spec_layer_and_bad_momentum():
    spec = sd.load_spec({"name": "bn_spec", "inputs": 4, "layers": [
        {"type": "dense", "units": 6}, {"type": "batchnorm", "momentum": 0.05}, {"type": "dense", "units": 2}],
        "loss": {"type": "softmax_cross_entropy"}})
    assert "bn_spec_batchnorm1_running_mean" in spec.model.parameters
    with pytest.raises(sd.SpecError, match=r"momentum: expected a number in \(0, 1\]"):
        sd.load_spec({"name": "bn_bad", "inputs": 4, "layers": [{"type": "batchnorm", "momentum": 0}],
                      "loss": {"type": "mse"}})
    with pytest.raises(ValueError, match="momentum must be in"):
        nn.BatchNorm(3, momentum=1.5, name="bn_bad_module")
    for bad in ("0.1", 0, float("nan"), True):  # a string raised Python's own "could not convert string to float"
        with pytest.raises(ValueError, match=r"momentum must be a finite number > 0, got"):
            nn.BatchNorm(3, momentum=bad, name="bn_bad_momentum")


@pytest.mark.parametrize("eps", [0.0, -1.0, float("nan"), float("inf"), "1e-5", True])
def test_a_bad_eps_is_refused_naming_it(eps):
    for cls in (nn.LayerNorm, nn.BatchNorm):
        with pytest.raises(ValueError, match=rf"{cls.__name__}\('norm_bad_eps'\): eps must be a finite number > 0, "
                                             rf"got {eps!r}"):
            cls(3, eps=eps, name="norm_bad_eps")
    assert nn.LayerNorm(3, eps=np.float32(1e-3), name="norm_np_eps").eps == pytest.approx(1e-3)
