"""Saved models (issue 15 point 2, Python API): a bundle round trip reproduces predictions bit for bit in a new
process, continues training from the saved optimizer state, and is readable without symdiff."""

import json
import subprocess
import sys

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from symdiff.spec import load_spec
from symdiff.train import Adam, Trainer, load_dataset

SPEC = {"name": "bundle_mlp", "inputs": 64, "dtype": "float32",
        "layers": [{"type": "dense", "units": 16, "activation": "tanh"}, {"type": "dense", "units": 10}],
        "loss": "softmax_cross_entropy", "optimizer": {"type": "adam", "lr": 0.01},
        "training": {"epochs": 5, "batch_size": 32, "validation_split": 0.1}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    spec = load_spec(SPEC)
    data = load_dataset("digits")
    trainer = spec.compile()
    spec.fit(trainer, data.X_train, data.y_train)
    path = trainer.save(tmp_path_factory.mktemp("bundles") / "digits32")
    return trainer, data, path


def test_a_saved_model_predicts_identically_in_a_new_process(trained, tmp_path):
    trainer, data, path = trained
    np.save(tmp_path / "X.npy", data.X_test)
    script = (f"import numpy as np, symdiff as sd; m = sd.load_model({str(path)!r}); "
              f"np.save({str(tmp_path / 'p.npy')!r}, m.predict(np.load({str(tmp_path / 'X.npy')!r})))")
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr
    predictions = np.load(tmp_path / "p.npy")
    assert predictions.dtype == np.float32
    np.testing.assert_array_equal(predictions, trainer.predict(data.X_test))  # bit for bit
    probabilities = trainer.predict_proba(data.X_test[:3])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)


def test_training_continues_from_the_saved_state(trained):
    trainer, data, path = trained
    again = sd.load_model(path)
    assert again.step.lr == trainer.step.lr and again.history.epochs == trainer.history.epochs
    for name, value in trainer.step.state.items():
        np.testing.assert_array_equal(again.step.state[name], value)
    np.testing.assert_array_equal(again.mean, trainer.mean)
    before = {k: v.copy() for k, v in trainer.params.items()}
    h1 = trainer.fit(data.X_train, data.y_train, epochs=2, validation_split=0.0)
    trainer.step.set_params(before)
    h2 = again.fit(data.X_train, data.y_train, epochs=2, validation_split=0.0)
    assert h1["loss"] == h2["loss"]  # the same steps from the same state


def test_the_bundle_is_plain_files(trained):
    _, _, path = trained
    meta = json.loads((path / "meta.json").read_text())
    assert meta["format"] == 1 and meta["inputs"] == {"name": "x", "shape": ["batch", 64], "dtype": "float32"}
    with np.load(path / "params.npz") as params:
        assert sorted(params.files) == sorted(p["name"] for p in meta["parameters"])
    assert json.loads((path / "spec.json").read_text())["name"] == "bundle_mlp"


def test_a_mismatched_model_is_refused_by_name(trained, tmp_path):
    _, _, path = trained
    other = load_spec(dict(SPEC, name="bundle_other")).compile()
    with pytest.raises(ValueError, match="holds parameters .*bundle_mlp_dense1_W"):
        other.load_state(path)
    with pytest.raises(FileNotFoundError, match="has no spec.json"):
        sd.load_model(tmp_path)


def test_the_predict_kernel_applies_the_training_standardization(trained):
    trainer, data, _ = trained
    assert trainer.mean is not None
    predict = trainer.compile_predict()
    raw = data.X_test[:7]
    got = predict(raw.astype(np.float32), *trainer.params.values())
    np.testing.assert_allclose(got, trainer.predict(raw), rtol=1e-5, atol=1e-6)  # float32 model


_PYTHON_MODEL = """
import numpy as np
import symdiff as sd
from symdiff import nn
from symdiff.train import Adam, Trainer

x, y = sd.tensor("x", ("batch", 64), "float32"), sd.tensor("y", ("batch",), "int64")
model = nn.Sequential([nn.Dense(64, 32, "relu", dtype="float32", name="py32_h1"),
                       nn.Dense(32, 16, "tanh", dtype="float32", name="py32_h2"),
                       nn.Dense(16, 10, dtype="float32", name="py32_out")], name="py32")
trainer = Trainer(model, x, y, nn.softmax_cross_entropy, Adam(lr=0.01))
"""


def test_a_python_api_float32_mlp_saves_and_predicts_identically_in_a_new_process(tmp_path):
    # issue 15 "done when": a 2-hidden-layer float32 MLP built in Python, trained on digits, saved, rebuilt by the
    # same code in a new process and restored with load_state
    namespace: dict = {}
    exec(_PYTHON_MODEL, namespace)
    trainer, data = namespace["trainer"], load_dataset("digits")
    trainer.fit(data.X_train, data.y_train, epochs=3, batch_size=32)
    trainer.save(tmp_path / "bundle")
    np.save(tmp_path / "X.npy", data.X_test)
    script = _PYTHON_MODEL + (f"trainer.load_state({str(tmp_path / 'bundle')!r})\n"
                              f"np.save({str(tmp_path / 'p.npy')!r}, trainer.predict(np.load({str(tmp_path / 'X.npy')!r})))")
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr
    predictions = np.load(tmp_path / "p.npy")
    assert predictions.dtype == np.float32
    np.testing.assert_array_equal(predictions, trainer.predict(data.X_test))


def _dropout_trainer(seed):
    x, y = sd.tensor("x", ("batch", 4)), sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([nn.Dense(4, 8, "tanh", name="rs_d1"), nn.Dropout(0.3, name="rs_drop"),
                           nn.Dense(8, 3, name="rs_d2")], name="rs")
    return Trainer(model, x, y, nn.softmax_cross_entropy, Adam(lr=0.01), seed=seed)


def _continued(trainer):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((48, 4)), rng.integers(0, 3, 48)
    history = trainer.fit(X, Y, epochs=1, batch_size=8, validation_split=0.25, progress=False)
    history.values.pop("seconds")
    return history


def test_a_loaded_trainer_continues_bit_for_bit_like_the_saved_one(tmp_path):
    # The dropout seeds' generator was neither saved nor restored: a loaded trainer drew other masks and its training
    # diverged from the saved one's. The trainer's seed (validation split, batch order) comes back with it too.
    saved = _dropout_trainer(seed=3)
    _continued(saved)
    saved.save(tmp_path / "b")
    loaded = _dropout_trainer(seed=9)
    loaded.load_state(tmp_path / "b")
    assert loaded.seed == 3 and loaded.step.next_seeds() == saved.step.next_seeds()
    saved.save(tmp_path / "b")  # after that draw: both generators are one draw further on
    loaded.load_state(tmp_path / "b")
    assert _continued(loaded).values == _continued(saved).values
    for name, value in saved.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)
    for name, value in saved.step.state.items():
        np.testing.assert_array_equal(loaded.step.state[name], value)
    stored = json.loads((tmp_path / "b" / "random.json").read_text())  # plain JSON: a seed and numpy's state dict
    assert stored["seed"] == 3 and stored["dropout_seeds"]["bit_generator"] == "PCG64"


def test_a_bundle_without_or_with_a_bad_random_state_is_named(tmp_path):
    trainer = _dropout_trainer(seed=3)
    path = trainer.save(tmp_path / "b")
    (path / "random.json").write_text(json.dumps({"seed": 3, "dropout_seeds": {"bit_generator": "MT19937"}}))
    trainer.step.set_params({"rs_d1_b": np.ones(8)})
    before = trainer.step.seed_state
    with pytest.raises(ValueError, match=r"load: .*random\.json: dropout_seeds: .*PCG64"):
        trainer.load_state(path)
    (path / "random.json").write_text(json.dumps({"seed": -1, "dropout_seeds": trainer.step.seed_state}))
    with pytest.raises(ValueError, match=r"load: .*random\.json: seed must be an integer >= 0, got -1"):
        trainer.load_state(path)
    assert trainer.step.seed_state == before and np.all(trainer.params["rs_d1_b"] == 1)  # nothing half loaded
    (path / "random.json").unlink()  # a bundle written before random.json existed
    with pytest.warns(UserWarning, match=r"no random\.json.*dropout masks.*restart from the trainer's seed"):
        trainer.load_state(path)


def test_a_spec_trainer_compiled_with_another_seed_saves_that_seed(tmp_path):
    # spec.compile(seed=S) (symdiff train --seed S --output DIR) wrote the spec's training.seed into spec.json, so a
    # model rebuilt from it split and shuffled as another seed does
    spec = load_spec({"name": "seeded", "inputs": 2, "layers": [{"type": "dense", "units": 2}],
                      "loss": "softmax_cross_entropy", "training": {"seed": 0}})
    trainer = spec.compile(seed=7)
    assert trainer.seed == 7 and trainer.spec_settings["training"]["seed"] == 7
    assert spec.settings["training"]["seed"] == 0  # the spec itself is unchanged
    path = trainer.save(tmp_path / "b")
    assert json.loads((path / "spec.json").read_text())["training"]["seed"] == 7
    (path / "random.json").unlink()  # spec.json alone says the seed too
    assert sd.load_model(path).seed == 7
