"""Layers, parameters and initial values, composition (Sequential, DAG models, shared weights), errors."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from tests.test_nn_checks import check_second_order


def test_dense_parameters_names_and_initial_values():
    layer = nn.Dense(200, 300, name="wide")
    assert list(layer.parameters) == ["wide_W", "wide_b"]
    assert list(layer.weights) == ["wide_W"]
    assert layer.parameters["wide_W"] is sd.tensor("wide_W", (200, 300))
    values = layer.init(seed=0)
    W, b = values["wide_W"], values["wide_b"]
    limit = np.sqrt(6 / 500)
    assert W.shape == (200, 300) and W.dtype == np.float64
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.99 * limit
    assert abs(W.mean()) < 0.01 and W.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)
    np.testing.assert_array_equal(b, np.zeros(300))


def test_he_initialization():
    layer = nn.Dense(400, 100, init="he_normal", name="he_layer")
    W = layer.init(1)["he_layer_W"]
    assert W.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    with pytest.raises(ValueError, match=r"unknown initializer 'xavier'.*he_uniform"):
        nn.Dense(2, 2, init="xavier")


def test_initial_values_are_reproducible_and_independent_per_parameter():
    first = nn.Dense(3, 4)
    alone = first.init(7)
    model = nn.Sequential([first, "tanh", nn.Dense(4, 2)])
    together = model.init(7)
    np.testing.assert_array_equal(alone[first.W.name], together[first.W.name])
    assert not np.array_equal(model.init(8)[first.W.name], together[first.W.name])
    assert set(together) == set(model.parameters)


def test_dense_values_and_derivatives_with_a_named_batch():
    layer = nn.Dense(3, 2, "tanh")
    x = sd.tensor("x", ("batch", 3))
    feed = layer.init(0) | {"x": np.random.default_rng(0).normal(size=(4, 3))}
    W, b = feed[layer.W.name], feed[layer.b.name]
    out = layer(x)
    np.testing.assert_allclose(sd.evaluate(out, feed), np.tanh(feed["x"] @ W + b), rtol=1e-14)
    loss = sd.sum(out * out)
    params = list(layer.parameters.values())
    sd.check_grad(loss, params + [x], feed)
    check_second_order(loss, params + [x], feed)


def test_sequential_accepts_activation_names_and_functions():
    model = nn.Sequential([nn.Dense(2, 3), "relu", nn.Dense(3, 2), lambda h: nn.leaky_relu(h, 0.1), nn.Dense(2, 1)])
    x = sd.tensor("x", ("batch", 2))
    X = np.array([[0.5, -1.0], [2.0, 0.3]])
    values = model.init(3)
    h = np.maximum(X @ values[model.layers[0].W.name], 0) @ values[model.layers[2].W.name]
    expected = np.where(h > 0, h, 0.1 * h) @ values[model.layers[4].W.name]
    np.testing.assert_allclose(sd.evaluate(model(x), values | {"x": X}), expected, rtol=1e-14)
    assert len(model.parameters) == 6


def test_dag_model_with_two_inputs_two_outputs_and_shared_weights():
    encoder = nn.Dense(3, 2, "tanh")
    head = nn.Dense(2, 1)

    def siamese(a, b):
        ea, eb = encoder(a), encoder(b)  # one encoder, used twice: shared weights
        return head(ea * eb), sd.sum((ea - eb) ** 2, axis=-1)

    a, b = sd.tensor("a", ("batch", 3)), sd.tensor("b", ("batch", 3))
    model = nn.Model(siamese, [a, b])
    assert set(model.parameters) == {encoder.W.name, encoder.b.name, head.W.name, head.b.name}
    score, distance = model.outputs()
    rng = np.random.default_rng(4)
    feed = model.init(0) | {"a": rng.normal(size=(3, 3)), "b": rng.normal(size=(3, 3))}
    loss = sd.sum(score) + sd.sum(distance)
    sd.check_grad(loss, list(model.parameters.values()), feed)
    check_second_order(loss, [encoder.W, head.W], feed)


def test_tied_weights_and_models_inside_models():
    encoder = nn.Dense(4, 2, "tanh")
    autoencoder = nn.Model(lambda x: encoder(x) @ encoder.W.T, [sd.tensor("x", ("batch", 4))])
    assert list(autoencoder.parameters) == [encoder.W.name, encoder.b.name]
    stacked = nn.Sequential([autoencoder, "sigmoid", nn.Dense(4, 1)])
    assert len(stacked.parameters) == 4
    x = sd.tensor("x", ("batch", 4))
    feed = stacked.init(0) | {"x": np.random.default_rng(5).normal(size=(2, 4))}
    sd.check_grad(sd.sum(stacked(x) ** 2), list(stacked.parameters.values()), feed)


def test_model_function_may_take_the_training_flag():
    drop = nn.Dropout(0.5)

    def net(x, training=False):
        return drop(x, training=training)

    x = sd.tensor("x", (4,))
    model = nn.Model(net, [x])
    assert model.outputs(training=False) is x
    assert model.outputs(training=True) is not x
    with pytest.raises(TypeError, match="output 0 of the model function is int"):
        nn.Model(lambda x: 3, [x])


def test_prelu_learns_its_slope():
    act = nn.PReLU(3)
    assert list(act.parameters) == [act.alpha.name] and not act.weights
    x = sd.tensor("x", ("batch", 3))
    X = np.array([[1.0, -2.0, 0.5], [-0.3, 0.7, -1.1]])
    feed = act.init(0) | {"x": X}
    np.testing.assert_allclose(sd.evaluate(act(x), feed), np.where(X > 0, X, 0.25 * X))
    loss = sd.sum(act(x) * sd.constant([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(sd.evaluate(sd.grad(loss, act.alpha), feed), [-0.3, -4.0, -3.3])
    sd.check_grad(loss, [x, act.alpha], feed)
    check_second_order(loss * loss, [x, act.alpha], feed)


def test_maxout_takes_the_max_of_its_pieces():
    layer = nn.Maxout(3, 2, pieces=4)
    x = sd.tensor("x", ("batch", 3))
    X = np.random.default_rng(6).normal(size=(5, 3))
    feed = layer.init(2) | {"x": X}
    z = X @ feed[layer.linear.W.name] + feed[layer.linear.b.name]
    np.testing.assert_allclose(sd.evaluate(layer(x), feed), z.reshape(5, 2, 4).max(-1), rtol=1e-14)
    loss = sd.sum(layer(x) ** 2)
    sd.check_grad(loss, [layer.linear.W, x], feed)
    check_second_order(loss, [layer.linear.W], feed)


def test_input_size_mismatch_names_the_layer_and_both_sizes():
    layer = nn.Dense(4, 2, name="hidden_a")
    with pytest.raises(sd.ShapeError, match=r"Dense\('hidden_a'\) expects inputs with 4 features.*\('batch', 5\)"):
        layer(sd.tensor("x", ("batch", 5)))
    model = nn.Sequential([nn.Dense(3, 5), "tanh", nn.Dense(4, 1, name="out_a")])
    with pytest.raises(sd.ShapeError, match=r"'out_a'.*4 features.*with 5 features"):
        model(sd.tensor("x", ("batch", 3)))
    with pytest.raises(ValueError, match=r"Dense\('bad_a'\): out_features must be a positive int, got 0"):
        nn.Dense(3, 0, name="bad_a")
    with pytest.raises(ValueError, match=r"Maxout\('bad_b'\): pieces must be a positive int, got 1.5"):
        nn.Maxout(3, 2, pieces=1.5, name="bad_b")
    with pytest.raises(ValueError, match=r"RBF\('bad_c'\): n_centers must be a positive int, got True"):
        nn.RBF(3, True, 1, name="bad_c")


def test_parameter_name_conflicts():
    first = nn.Dense(2, 3, name="twin")
    again = nn.Dense(2, 3, name="twin")  # same name and shapes: the same parameters
    assert again.W is first.W
    with pytest.raises(ValueError, match=r"both declare parameter 'twin_W'"):
        _ = nn.Sequential([first, again]).parameters
    with pytest.raises(ValueError, match=r"'twin_W' already exists with shape \(2, 3\).*shape \(5, 3\)"):
        nn.Dense(5, 3, name="twin")
    with pytest.raises(ValueError, match="must be a Python identifier"):
        nn.Dense(2, 2, name="not a name")


class Probe(nn.Module):
    prefix = "probe"

    def forward(self, x, *, training):
        return x


def test_automatic_names_count_up_and_skip_names_in_use():
    taken = Probe(name="probe2")
    probes = [Probe() for _ in range(3)]
    assert [p.name for p in probes] == ["probe1", "probe3", "probe4"]
    assert taken.name == "probe2"


def test_an_unnamed_model_built_again_starts_elsewhere_and_a_named_one_the_same():
    # docs/training.md "Seeds": starting values (and dropout masks) depend on the seed and the layer names, and
    # default names count on within a process; named layers repeat
    def build(name=None):
        return nn.Sequential([nn.Dense(3, 2, "tanh", name=name)])

    first, again = build(), build()
    assert first.layers[0].name != again.layers[0].name
    assert not np.array_equal(*(next(iter(model.init(seed=0).values())) for model in (first, again)))
    named = [build("repeated_dense") for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(*(model.init(seed=0).values() for model in named)))


def test_sizes_may_be_numpy_integers():
    layer = nn.Dense(np.int64(3), np.int32(2), name="np_sizes")
    assert layer.W.shape == (3, 2) and type(layer.in_features) is int
    assert nn.Maxout(3, np.int64(2), np.int64(2), name="np_maxout")(sd.tensor("x", ("batch", 3))).shape == \
        ("batch", 2)


def test_bias_must_be_a_bool():
    # bias="false" counted as true (a string is truthy) and the layer silently kept its bias
    for build in (lambda flag: nn.Dense(3, 2, bias=flag, name="flag_dense"),
                  lambda flag: nn.Conv2D(1, 2, 3, bias=flag, name="flag_conv")):
        with pytest.raises(TypeError, match=r"bias must be True or False, got 'false'"):
            build("false")
    assert nn.Dense(3, 2, bias=np.bool_(False), name="npflag_dense").b is None
