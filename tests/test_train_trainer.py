"""The training loop and the compiled step: batches of any size, dropout seeds, standardization,
validation, learning-rate halving, early stopping with restored parameters, reproducibility, errors.
One training graph is compiled for the whole file."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from symdiff.train import Adam, Trainer, load_dataset


def _model():
    x = sd.tensor("x", ("batch", 3))
    y = sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([nn.Dense(3, 6, "tanh", name="tt_dense1"), nn.Dropout(0.2, name="tt_drop"),
                           nn.Dense(6, 3, name="tt_dense2")], name="tt")
    return model, x, y


def _trainer(seed=0):
    model, x, y = _model()
    return Trainer(model, x, y, nn.softmax_cross_entropy, Adam(0.05), regularizer=nn.l2(model, 1e-3), seed=seed)


@pytest.fixture(scope="module")
def data():
    return load_dataset("classification", n=90, features=3, classes=3, spread=0.5, seed=2)


@pytest.fixture(scope="module")
def trainer():
    return _trainer()


def test_fit_learns_and_records_every_epoch(trainer, data):
    history = trainer.fit(data.X_train * 10 + 5, data.y_train, epochs=30, batch_size=16, validation_split=0.25)
    assert history.epochs == 30 and history.stop_reason == "finished 30 epochs"
    assert set(history.values) == {"loss", "val_loss", "val_accuracy", "lr", "seconds"}
    assert history["loss"][-1] < history["loss"][0]
    assert trainer.evaluate(data.X_test * 10 + 5, data.y_test)["accuracy"] > 0.6  # chance is 1/3
    # Inputs are standardized with statistics of the 54 training rows (not the validation rows).
    assert trainer.mean.shape == (3,) and np.all(trainer.scale > 1)
    manual = sd.evaluate(trainer.outputs, trainer.params | {"x": (data.X_test * 10 + 5 - trainer.mean) / trainer.scale})
    np.testing.assert_allclose(trainer(data.X_test * 10 + 5), manual)


def test_step_takes_any_batch_size_and_feeds_fresh_dropout_seeds(trainer, data):
    step = trainer.step
    assert step.signature[-2:] == ["lr", "dropout_seed"]
    losses = [step(data.X_train[:5], data.y_train[:5]) for _ in range(2)]
    assert losses[0] != losses[1]  # parameters moved and a new mask was drawn
    for batch in (1, 7, 33):
        assert np.isfinite(step(data.X_train[:batch], data.y_train[:batch]))
    before = step.state["adam_t"].copy()
    step(data.X_train[:2], data.y_train[:2])
    assert step.state["adam_t"] == before + 1
    step.reset_state()
    assert step.state["adam_t"] == 0 and not np.any(step.state["tt_dense1_W_m"])
    with pytest.raises(TypeError, match=r"data inputs \(x, y\), got 1"):
        step(data.X_train)
    with pytest.raises(ValueError, match="learning rate must be positive"):
        step.lr = 0.0
    with pytest.raises(KeyError, match="unknown parameters"):
        step.set_params({"nope": np.zeros(1)})
    with pytest.raises(ValueError, match=r"'tt_dense2_b' has shape \(4,\), expected \(3,\)"):
        step.set_params({"tt_dense2_b": np.zeros(4)})


def test_same_seed_same_run(data):
    runs = []
    for _ in range(2):
        trainer = _trainer(seed=5)
        runs.append(trainer.fit(data.X_train, data.y_train, epochs=4, batch_size=8, validation_split=0.2))
        runs[-1].values.pop("seconds")
    assert runs[0].values == runs[1].values
    other = _trainer(seed=6).fit(data.X_train, data.y_train, epochs=4, batch_size=8, validation_split=0.2)
    assert other["loss"] != runs[0]["loss"]


def test_lr_halves_on_rises_and_early_stopping_restores_the_best(trainer, data, monkeypatch):
    scripted = iter([1.0, 0.8, 0.9, 0.95, 0.97, 0.5])
    snapshots = []

    def fake_evaluate(X, Y):
        snapshots.append({k: v.copy() for k, v in trainer.params.items()})
        return {"loss": next(scripted), "accuracy": 0.5}

    monkeypatch.setattr(trainer, "evaluate", fake_evaluate)
    trainer.step.lr = 0.04
    history = trainer.fit(data.X_train, data.y_train, epochs=10, batch_size=32, validation_split=0.2, patience=3)
    assert history.epochs == 5 and history.best_epoch == 2
    assert history.stop_reason == "early stop: no improvement for 3 epochs"
    assert history["lr"] == [0.04, 0.04, 0.04, 0.02, 0.01]  # halved after the rises of epochs 3 and 4
    for name, value in snapshots[1].items():
        np.testing.assert_array_equal(trainer.params[name], value)


def test_a_diverging_loss_stops_training(trainer, data, monkeypatch):
    monkeypatch.setattr(trainer, "evaluate", lambda X, Y: {"loss": float("nan"), "accuracy": 0.0})
    history = trainer.fit(data.X_train, data.y_train, epochs=5, validation_split=0.2)
    assert history.epochs == 1 and "smaller learning rate" in history.stop_reason


def test_bad_data_is_named(trainer, data):
    with pytest.raises(ValueError, match=r"inputs: expected an array of shape \('batch', 3\).*got shape \(72, 4\)"):
        trainer.fit(np.zeros((72, 4)), data.y_train, epochs=1)
    with pytest.raises(ValueError, match="label 7 at index"):
        trainer.fit(data.X_train, np.full(len(data.X_train), 7), epochs=1)
    with pytest.raises(ValueError, match="X has 72 rows but Y has 5"):
        trainer.fit(data.X_train, data.y_train[:5], epochs=1)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        trainer.fit(data.X_train, data.y_train, batch_size=0)
    with pytest.raises(ValueError, match="validation_split must be in"):
        trainer.fit(data.X_train, data.y_train, validation_split=1.0)


def test_unknown_graph_inputs_are_reported():
    model, x, y = _model()
    extra = sd.tensor("temperature", ())
    loss = nn.softmax_cross_entropy(model(x) / extra, y)
    with pytest.raises(ValueError, match=r"reads inputs \['temperature'\].*list them in `inputs`"):
        Adam().compile_step([x, y], loss, model)
