"""Spec files: dict -> TOML/JSON -> load gives the same model; custom activations; bad specs give errors
naming the file, the key path and what was expected. No kernels are compiled here."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest

import symdiff as sd
from symdiff.spec import SpecError, dump_spec, load_spec
from symdiff.train import SGD, Adam, load_dataset

SPEC = {
    "name": "roundtrip",
    "inputs": 4,
    "activations": {"swish_rt": "x*sigmoid(x)"},
    "layers": [
        {"type": "dense", "units": 6, "activation": "swish_rt"},
        {"type": "dropout", "rate": 0.25},
        {"type": "dense", "units": 5, "activation": "x*tanh(x)", "init": "he_normal"},
        {"type": "prelu"},
        {"type": "maxout", "units": 4, "pieces": 2, "inputs": 5},
        {"type": "rbf", "centers": 3, "units": 3},
    ],
    "loss": "multiclass_hinge",
    "regularizer": {"type": "elastic_net", "l1_scale": 1e-4, "l2_scale": 1e-3},
    "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
    "training": {"epochs": 3, "batch_size": 8, "data": "classification", "metrics": ["accuracy"]},
}


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_round_trip_gives_the_same_model(tmp_path, suffix):
    first = load_spec(SPEC)
    path = dump_spec(SPEC, tmp_path / f"model{suffix}")
    again = load_spec(path)
    assert again.source == str(path)
    assert again.loss(training=True) is first.loss(training=True)  # interned graphs: the very same nodes
    assert again.loss() is first.loss()
    assert list(again.model.parameters) == list(first.model.parameters)
    assert repr(again.optimizer) == repr(first.optimizer) and isinstance(again.optimizer, SGD)
    assert again.training == first.training and again.settings == first.settings
    # The normalized settings (defaults filled in) also round-trip.
    assert load_spec(dump_spec(first, tmp_path / f"full{suffix}")).settings == first.settings


def test_spec_builds_the_described_model():
    spec = load_spec(SPEC)
    assert spec.outputs == 3 and spec.y.dtype == "int64" and spec.x.shape == ("batch", 4)
    assert list(spec.model.parameters)[:2] == ["roundtrip_dense1_W", "roundtrip_dense1_b"]
    assert spec.settings["loss"] == {"type": "multiclass_hinge", "margin": 1.0}
    assert spec.training["validation_split"] == 0.1 and spec.training["patience"] == 0
    # The custom activations are real ops: the gradient graph evaluates.
    values = spec.model.init(0)
    feed = values | {"x": np.ones((2, 4)), "y": np.array([0, 2])}
    grads = sd.evaluate(sd.grad(spec.loss(), list(spec.model.parameters.values())), feed)
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert isinstance(load_spec({"inputs": 2, "layers": [{"type": "dense", "units": 2}],
                                 "loss": "softmax_cross_entropy"}).optimizer, Adam)


def test_data_is_shaped_for_the_loss():
    data = load_dataset("xor")
    bce = load_spec({"name": "bce", "inputs": 2, "layers": [{"type": "dense", "units": 1}],
                     "loss": "binary_cross_entropy"})
    X, Y = bce.data_arrays(data, data.X_train, data.y_train)
    assert Y.shape == (4, 1) and Y.dtype == np.float64
    onehot = load_spec({"name": "sq", "inputs": 2, "layers": [{"type": "dense", "units": 2}], "loss": "squared_error"})
    assert onehot.data_arrays(data, data.X_train, data.y_train)[1].tolist()[1] == [0.0, 1.0]
    with pytest.raises(SpecError, match=r"<dict>: inputs: the data set 'digits' has 64 features.*spec says 2"):
        bce.data_arrays(load_dataset("digits"), np.zeros((1, 64)), np.zeros(1))
    values = load_dataset("regression", n=10, features=4)
    with pytest.raises(SpecError, match="layers: the data set 'regression' has 1 real-valued targets; the model gives 3"):
        load_spec(SPEC).data_arrays(values, values.X_train, values.y_train)


def _bad(**changes):
    spec = copy.deepcopy(SPEC)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = spec
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is KeyError:
            del target[int(last) if isinstance(target, list) else last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return spec


@pytest.mark.parametrize("changes, message", [
    ({"layers__2__units": "ten"}, "layers[2].units: expected a positive integer, got 'ten' (str)"),
    ({"layers__2__units": 0}, "layers[2].units: expected a positive integer, got 0 (int)"),
    ({"layers__0__unitz": 3}, "layers[0].unitz: unknown key (did you mean 'units'?)"),
    ({"layers__1__type": "attention"}, "layers[1].type: expected one of 'dense', 'dropout'"),
    ({"layers__1__rate": KeyError}, "layers[1].rate: missing required key (a number in [0, 1))"),
    ({"layers__4__inputs": 6}, "layers[4].inputs: expected 5 (the output width of layers[3]), got 6"),
    ({"layers__0__activation": "swishh"}, "layers[0].activation: unknown activation 'swishh'"),
    ({"layers__0__activation": "x*frobnicate(x)"}, "layers[0].activation: bad activation expression"),
    ({"layers__2__init": "uniformish"}, "layers[2].init: expected an initializer name"),
    ({"inputs": KeyError}, "inputs: missing required key (a positive integer)"),
    ({"inputs": 2.5}, "inputs: expected a positive integer, got 2.5 (float)"),
    ({"layers": []}, "layers: expected a non-empty list of tables"),
    ({"lossfn": "x"}, "lossfn: unknown key (did you mean 'loss'?)"),
    ({"loss": "hinge"}, "loss.type: expected one of 'softmax_cross_entropy'"),
    ({"loss": {"type": "multiclass_hinge", "margin": -1}}, "loss.margin: expected a finite number > 0, got -1 (int)"),
    ({"layers__5__units": 1, "name": "one_output"}, "loss: multiclass_hinge needs at least 2 outputs (one per class); the last layer gives 1"),
    ({"optimizer__momentum": 1.5}, "optimizer.momentum: SGD: momentum must be in [0.0, 1.0), got 1.5"),
    ({"optimizer__nesterov": "yes"}, "optimizer.nesterov: expected true or false, got 'yes' (str)"),
    ({"optimizer__type": "adamw"}, "optimizer.type: expected one of 'sgd', 'adagrad', 'rmsprop', 'adam'"),
    ({"regularizer": {"type": "l2"}}, "regularizer.scale: missing required key (a finite number >= 0)"),
    ({"training__epochs": -3}, "training.epochs: expected a positive integer, got -3 (int)"),
    ({"training__data": 7}, "training.data: expected a string, got 7 (int)"),
    ({"training__metrics": ["top5"]}, "training.metrics: expected a list of names among 'accuracy', 'mse', 'mae'"),
    ({"activations": {"swish_rt": 3}}, "activations.swish_rt: expected a string, got 3 (int)"),
    ({"activations": {"relu": "x*x"}}, "activations.relu: "),
    ({"inputs": 20000, "layers__0__units": 6000, "name": "wide"},
     "layers[0].units: this layer has 120,006,000 parameters, 120,006,000 in the model so far; a spec may describe at "
     "most 100,000,000 (is a width mistyped?)"),
    ({"layers__0__units": 9000, "layers__2__units": 12000, "name": "wider"},
     "layers[2].units: this layer has 108,012,000 parameters, 108,057,000 in the model so far"),
    ({"training__seed": 2**70}, f"training.seed: expected an integer >= 0, got {2**70} (int); integers in a spec "
                                "lie in [-2**63, 2**63)"),
    ({"training__seed": 2**200}, "training.seed: expected an integer >= 0, got an integer of 201 bits (int)"),
    ({"optimizer__lr": float("nan")}, "optimizer.lr: expected a finite number > 0, got nan (float)"),
    ({"optimizer__momentum": float("-inf")}, "optimizer.momentum: expected a finite number, got -inf (float)"),
    ({"layers__1__rate": float("nan")}, "layers[1].rate: expected a number in [0, 1), got nan (float)"),
])
def test_bad_specs_name_the_file_key_and_expectation(tmp_path, changes, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_bad(**changes)))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}: {message}"), str(info.value)


def test_unreadable_specs(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("inputs = \n")
    with pytest.raises(SpecError, match=r"broken.toml: invalid TOML: .*line 1"):
        load_spec(broken)
    with pytest.raises(SpecError, match=r"missing.toml: cannot read the file: No such file"):
        load_spec(tmp_path / "missing.toml")
    with pytest.raises(SpecError, match=r"model.yaml: unknown spec format '.yaml'"):
        load_spec(tmp_path / "model.yaml")
    (tmp_path / "big.toml").write_bytes(b"# padding\n" * 110_000)
    with pytest.raises(SpecError, match=r"big.toml: the file is larger than 1048576 bytes; a spec is a few kilobytes"):
        load_spec(tmp_path / "big.toml")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(SpecError, match="list.json: expected a table at the top level, got list"):
        load_spec(tmp_path / "list.json")


def test_regression_metrics_need_real_targets():
    spec = {"name": "reg", "inputs": 1, "layers": [{"type": "dense", "units": 1}], "loss": "squared_error"}
    assert load_spec(spec).metrics == ["mse"] and load_spec(spec).y.shape == ("batch", 1)
    with pytest.raises(SpecError, match="training.metrics: accuracy needs class labels"):
        load_spec(spec | {"training": {"metrics": ["accuracy"]}})


@pytest.mark.parametrize(("loss", "units", "metric", "message"), [
    ("softmax_cross_entropy", 2, "roc_auc", "roc_auc needs a binary model's logits against 0/1 targets (a "
     "binary_cross_entropy loss); the softmax_cross_entropy loss gives class scores against class labels: use accuracy"),
    ("softmax_cross_entropy", 3, "precision", "precision needs a binary model's logits"),
    ("multiclass_hinge", 2, "mse", "mse needs real-valued targets; the multiclass_hinge loss gives class scores"),
    ("binary_cross_entropy", 1, "accuracy", "accuracy needs class labels and one output per class (a "
     "softmax_cross_entropy, sparsemax_loss or multiclass_hinge loss); the binary_cross_entropy loss gives a binary "
     "model's logits: use binary_accuracy, precision, recall, f1, roc_auc, mse, mae"),
    ("squared_error", 1, "f1", "f1 needs a binary model's logits against 0/1 targets (a binary_cross_entropy loss); "
     "the squared_error loss gives real values: use mse, mae"),
], ids=["roc_auc softmax", "precision softmax", "mse hinge", "accuracy binary", "f1 squared_error"])
def test_every_metric_is_checked_against_the_loss_when_the_spec_loads(loss, units, metric, message):
    # only accuracy was checked: the others loaded, trained an epoch and died in the metric with a traceback
    spec = {"name": f"metric_check_{units}", "inputs": 2, "layers": [{"type": "dense", "units": units}], "loss": loss}
    with pytest.raises(SpecError) as info:
        load_spec(spec | {"training": {"metrics": [metric]}})
    assert str(info.value).startswith(f"<dict>: training.metrics: {message}"), str(info.value)


def test_the_metrics_that_fit_each_loss_load():
    for loss, units, metrics in [("softmax_cross_entropy", 3, ["accuracy"]),
                                 ("binary_cross_entropy", 1, ["binary_accuracy", "precision", "recall", "f1", "roc_auc",
                                                              "mse", "mae"]),
                                 ("binary_cross_entropy", 3, ["binary_accuracy", "roc_auc"]),  # three 0/1 targets
                                 ("squared_error", 2, ["mse", "mae"])]:
        spec = {"name": f"metric_fit_{units}", "inputs": 2, "layers": [{"type": "dense", "units": units}], "loss": loss,
                "training": {"metrics": metrics}}
        assert load_spec(spec).metrics == metrics


def test_a_float32_spec_builds_trains_and_round_trips(tmp_path):
    settings = {"name": "xor32", "dtype": "float32", "inputs": 2,
                "layers": [{"type": "dense", "units": 8, "activation": "tanh"}, {"type": "prelu"},
                           {"type": "dense", "units": 1}],
                "loss": "binary_cross_entropy", "optimizer": {"type": "sgd", "lr": 0.5, "momentum": 0.9},
                "training": {"epochs": 200, "batch_size": 4, "validation_split": 0.0, "standardize": False}}
    spec = load_spec(settings)
    assert spec.x.dtype == "float32" and spec.y.dtype == "float32"
    assert all(p.dtype == "float32" for p in spec.model.parameters.values())
    data = load_dataset("xor")
    X, Y = spec.data_arrays(data, data.X_train, data.y_train)
    trainer = spec.compile()
    spec.fit(trainer, X, Y)
    assert trainer.predict(X).dtype == np.float32 and np.all((trainer.predict(X) > 0) == (Y > 0.5))
    assert load_spec(dump_spec(spec, tmp_path / "xor32.toml")).settings["dtype"] == "float32"
    with pytest.raises(SpecError, match=r"dtype: expected one of .*float32.*got 'float16'"):
        load_spec(dict(settings, dtype="float16"))
    with pytest.raises(SpecError, match=r"layers\[0\].*rbf layers are float64 only"):
        load_spec(dict(settings, name="rbf32", layers=[{"type": "rbf", "centers": 3, "units": 1}]))


@pytest.mark.parametrize("name, metric, bound", [("xor", "accuracy", 1.0), ("digits", "accuracy", 0.96),
                                                 ("swish_regression", "mse", 0.02), ("digits_cnn", "accuracy", 0.985),
                                                 ("binary_addition", "binary_accuracy", 1.0)])
def test_every_bundled_spec_reaches_its_stated_quality(name, metric, bound):
    spec = load_spec(Path(__file__).resolve().parents[1] / "examples" / "specs" / f"{name}.toml")
    data = load_dataset(spec.training["data"])
    trainer = spec.compile()
    spec.fit(trainer, *spec.data_arrays(data, data.X_train, data.y_train))
    score = trainer.evaluate(*spec.data_arrays(data, data.X_test, data.y_test))[metric]
    assert score >= bound if metric.endswith("accuracy") else score <= bound, (name, score)


def test_inline_activation_expressions_with_one_crc32_are_two_modules():
    # inline expressions were named by the CRC32 of their text: these two collide, and the spec was refused with
    # "'expr_b9f25386' is already defined as 784226486491*x"
    spec = load_spec({"name": "crc", "inputs": 2, "loss": "squared_error",
                      "layers": [{"type": "dense", "units": 3, "activation": "x*784226486491"},
                                 {"type": "dense", "units": 1, "activation": "x*20518273919"}]})
    first, second = (layer.activation for layer in spec.model.layers)
    assert first.name != second.name and first.name.startswith("expr_")
    np.testing.assert_allclose(sd.evaluate(second(sd.tensor("x", (2,))), {"x": np.ones(2)}), 20518273919.0)
