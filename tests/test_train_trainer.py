"""The training loop and the compiled step: batches of any size, dropout seeds, standardization,
validation, learning-rate halving, early stopping with restored parameters, reproducibility, errors.
One training graph is compiled for the whole file."""

import itertools
import signal

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from symdiff.train import Adam, Trainer, TrainingInputError, load_dataset


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
    with pytest.raises(ValueError, match="learning rate must be a positive finite number, got 0.0"):
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
    history = trainer.fit(data.X_train, data.y_train, epochs=10, batch_size=32, validation_split=0.2, patience=3,
                          lr_patience=1)
    assert history.epochs == 5 and history.best_epoch == 2
    assert history.stop_reason == "early stop: no improvement for 3 epochs"
    assert history["lr"] == [0.04, 0.04, 0.04, 0.02, 0.01]  # halved after epochs 3 and 4: no new best
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
    with pytest.raises(ValueError, match=r"validation_split must be a number in \[0, 1\), got 1.0"):
        trainer.fit(data.X_train, data.y_train, validation_split=1.0)


def test_unknown_graph_inputs_are_reported():
    model, x, y = _model()
    extra = sd.tensor("temperature", ())
    loss = nn.softmax_cross_entropy(model(x) / extra, y)
    with pytest.raises(ValueError, match=r"reads inputs \['temperature'\].*list them in `inputs`"):
        Adam().compile_step([x, y], loss, model)


def _scripted_validation(trainer, monkeypatch, losses, on_epoch=None):
    """Validation losses taken from ``losses``; the parameters at each validation; ``on_epoch(epoch)`` runs then."""
    scripted, snapshots = iter(losses), []

    def fake_evaluate(X, Y):
        snapshots.append({k: v.copy() for k, v in trainer.params.items()})
        if on_epoch is not None:
            on_epoch(len(snapshots))
        return {"loss": next(scripted), "accuracy": 0.5}

    monkeypatch.setattr(trainer, "evaluate", fake_evaluate)
    return snapshots


def test_every_fit_starts_at_the_step_learning_rate_and_reset_state_restores_the_optimizers(trainer, data,
                                                                                           monkeypatch):
    _scripted_validation(trainer, monkeypatch, [1.0, 2.0, 3.0, 4.0] * 2)
    trainer.step.lr = 0.04
    first = trainer.fit(data.X_train, data.y_train, epochs=4, validation_split=0.2, lr_patience=1)
    assert first["lr"] == [0.04, 0.04, 0.02, 0.01]  # halved after every epoch without a new best, within the run
    assert trainer.step.lr == 0.04
    second = trainer.fit(data.X_train, data.y_train, epochs=4, validation_split=0.2, lr_patience=1)
    assert second["lr"] == first["lr"]
    trainer.step.lr = 9.1e-15
    trainer.step.reset_state()
    assert trainer.step.lr == trainer.step.initial_lr == 0.05  # the optimizer's, Adam(0.05)
    for bad in (float("inf"), float("nan"), -1.0, "fast"):
        with pytest.raises(ValueError, match="learning rate must be a positive finite number"):
            trainer.step.lr = bad
    assert trainer.step.lr == 0.05


def test_no_rows_to_train_on_is_an_error_before_any_work(trainer, data):
    before = {k: v.copy() for k, v in trainer.params.items()}
    mean = trainer.mean
    with pytest.raises(TrainingInputError, match=r"^no training rows left: 4 rows given, validation_split=0.9 holds "
                                                 r"out 4, leaving 0; give more rows or a smaller validation_split$") as info:
        trainer.fit(data.X_train[:4], data.y_train[:4], validation_split=0.9)
    assert info.value.field == "validation_split"
    with pytest.raises(TrainingInputError, match="^X has no rows$"):
        trainer.fit(np.zeros((0, 3)), np.zeros(0, np.int64))
    with pytest.raises(TrainingInputError, match="^validation X has no rows$"):
        trainer.fit(data.X_train, data.y_train, validation_data=(np.zeros((0, 3)), np.zeros(0, np.int64)))
    assert trainer.mean is mean and all(np.array_equal(trainer.params[k], v) for k, v in before.items())


def test_non_finite_data_is_named_instead_of_advising_a_smaller_learning_rate(trainer, data):
    X = data.X_train.copy()
    X[5, 2], X[7, 0] = np.nan, np.inf
    with pytest.raises(TrainingInputError, match=r"^X contains nan at row 5, column 2 \(2 non-finite values in all\); "
                                                 "remove or fill them before training$") as info:
        trainer.fit(X, data.y_train, epochs=1)
    assert info.value.field == "X"
    with pytest.raises(TrainingInputError, match=r"^validation X contains inf at row 1, column 0 \(1 non-finite value in"):
        trainer.fit(data.X_train, data.y_train, validation_data=(X[6:], data.y_train[6:]), epochs=1)


def test_a_negative_seed_is_named_before_compiling():
    model, x, y = _model()
    with pytest.raises(TrainingInputError, match=r"^seed must be an integer >= 0, got -1$"):
        Trainer(model, x, y, nn.softmax_cross_entropy, Adam(0.05), seed=-1)
    with pytest.raises(TrainingInputError, match=r"^seed must be an integer >= 0, got -3$"):
        Adam().compile_step([x, y], nn.softmax_cross_entropy(model(x), y), model, seed=-3)


def _interrupt_at(trainer, monkeypatch, call, how):
    """The step's kernel raises KeyboardInterrupt on call number ``call`` ("raise"), or the process gets SIGINT
    during that call ("signal": a Ctrl-C; "signal twice": two)."""
    kernel, calls = trainer.step.fn, itertools.count(1)

    def interrupted_kernel(*args):
        call_number = next(calls)
        if call_number == call and how == "raise":
            raise KeyboardInterrupt
        result = kernel(*args)
        if call_number == call and how.startswith("signal"):
            for _ in range(2 if how == "signal twice" else 1):
                signal.raise_signal(signal.SIGINT)
        return result

    monkeypatch.setattr(trainer.step, "fn", interrupted_kernel)


@pytest.mark.parametrize("how", ["raise", "signal", "signal twice"])
def test_ctrl_c_keeps_the_best_parameters_so_far_and_returns_the_history(trainer, data, monkeypatch, how):
    snapshots = _scripted_validation(trainer, monkeypatch, [1.0, 0.8, 0.9, 0.7])
    _interrupt_at(trainer, monkeypatch, call=10, how=how)  # 58 training rows, batches of 16: epoch 3, batch 2
    trainer.step.lr = 0.04
    history = trainer.fit(data.X_train, data.y_train, epochs=10, batch_size=16, validation_split=0.2)
    assert history.stop_reason == "interrupted" and history.epochs == 2 and history.best_epoch == 2
    assert history["val_loss"] == [1.0, 0.8]
    for name, value in snapshots[1].items():
        np.testing.assert_array_equal(trainer.params[name], value)
    assert trainer.step.lr == 0.04 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_while_validating_finishes_that_epoch_and_before_any_epoch_keeps_the_start(trainer, data, monkeypatch):
    snapshots = _scripted_validation(trainer, monkeypatch, [1.0, 0.8, 0.7, 0.6],
                                     on_epoch=lambda epoch: epoch == 3 and signal.raise_signal(signal.SIGINT))
    history = trainer.fit(data.X_train, data.y_train, epochs=10, batch_size=16, validation_split=0.2)
    assert history.stop_reason == "interrupted" and history.epochs == history.best_epoch == 3
    for name, value in snapshots[2].items():
        np.testing.assert_array_equal(trainer.params[name], value)
    start = {k: v.copy() for k, v in trainer.params.items()}
    _interrupt_at(trainer, monkeypatch, call=2, how="signal")
    history = trainer.fit(data.X_train, data.y_train, epochs=10, batch_size=16, validation_split=0.2)
    assert history.stop_reason == "interrupted" and history.epochs == history.best_epoch == 0
    for name, value in start.items():
        np.testing.assert_array_equal(trainer.params[name], value)


def test_the_default_learning_rate_rule_halves_on_plateaus_not_on_every_rise(trainer, data, monkeypatch):
    _scripted_validation(trainer, monkeypatch, [1.0, 1.1, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0])
    trainer.step.lr = 0.04
    history = trainer.fit(data.X_train, data.y_train, epochs=9, validation_split=0.2)
    # a rise followed by a new best keeps the rate; three epochs without a new best halve it, and three more again
    assert history["lr"] == [0.04] * 6 + [0.02] * 3
