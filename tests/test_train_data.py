"""Built-in data sets, the history (records, PNG curves), the plateau monitor and plain progress lines."""

import io
import sys

import numpy as np
import pytest

from symdiff.train import History, Monitor, load_dataset
from symdiff.train import data as data_module
from symdiff.train.progress import Progress


def test_digits_ship_with_the_package():
    data = load_dataset("digits")
    assert data.X_train.shape == (1438, 64) and data.X_test.shape == (359, 64)
    assert data.classes == 10 and set(np.unique(data.y_train)) == set(range(10))
    assert data.X_train.min() == 0 and data.X_train.max() == 16


def test_digits_copy_equals_scikit_learns():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = data_module._digits_arrays()
    bunch = datasets.load_digits()
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)


def test_missing_digits_without_scikit_learn_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(data_module, "DIGITS_FILE", tmp_path / "absent.npz")
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(RuntimeError, match="absent.npz is missing.*pip install scikit-learn"):
        load_dataset("digits")


def test_synthetic_sets_are_seeded_and_shaped():
    a, b = load_dataset("classification", n=50, features=4, classes=3, seed=1), \
        load_dataset("classification", n=50, features=4, classes=3, seed=1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert a.X_train.shape == (40, 4) and a.outputs == 3
    line = load_dataset("line", n=20)
    np.testing.assert_allclose(line.y_train, 0.1 * line.X_train + 0.3)
    assert load_dataset("regression", n=30, features=5, outputs=2).outputs == 2
    assert load_dataset("curve", n=40).X_test.shape == (10, 1)
    xor = load_dataset("xor")
    assert xor.y_train.tolist() == [0, 1, 1, 0]
    with pytest.raises(ValueError, match="unknown data set 'mnist'; built-in data sets: xor, line"):
        load_dataset("mnist")


def test_monitor_halves_on_plateaus_and_stops_after_patience():
    monitor = Monitor(patience=2, halve_lr=True, lr_patience=2)
    steps = [monitor.update(v) for v in (1.0, 0.8, 0.9, 0.85, 0.95)]
    # two epochs without a new best halve the rate (then the count restarts); two more stop training
    assert steps == [(True, False, False), (True, False, False), (False, False, False), (False, True, True),
                     (False, False, True)]
    assert monitor.best_epoch == 2
    never = Monitor(patience=0, halve_lr=False)
    assert all(not halve and not stop for _, halve, stop in (never.update(v) for v in (1, 2, 3, 4)))


def test_history_records_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    history = History()
    for k in range(3):
        history.record(loss=1.0 / (k + 1), val_loss=1.2 / (k + 1), val_accuracy=0.5 + 0.1 * k, lr=0.1, seconds=k)
    history.best_epoch = 3
    assert history.epochs == 3 and history["val_accuracy"] == [0.5, 0.6, 0.7] and "lr" in history
    assert history.last()["loss"] == pytest.approx(1 / 3)
    with pytest.raises(KeyError, match="no 'accuracy'.*'val_accuracy'"):
        history["accuracy"]
    path = history.plot(tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    history = History()
    history.record(loss=1.0)
    with pytest.raises(RuntimeError, match="pip install matplotlib"):
        history.plot(tmp_path / "x.png")


def test_plain_progress_prints_a_few_lines_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    stream = io.StringIO()
    progress = Progress(50, enabled=True, stream=stream)
    for epoch in range(1, 51):
        progress.update(epoch, {"loss": 1.0 / epoch, "lr": 0.1})
    progress.close("early stop: test")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "epoch 1/50  loss 1  lr 0.1"
    assert lines[-2] == "epoch 50/50  loss 0.02  lr 0.1" and lines[-1] == "early stop: test"
    assert len(lines) == 12
    quiet = io.StringIO()
    Progress(5, enabled=None, stream=quiet).update(1, {"loss": 1.0})  # not a terminal: silent by default
    assert quiet.getvalue() == ""


def test_progress_is_on_by_default_in_a_notebook_kernel(monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: None  # ipykernel imported but no kernel running (a test harness): quiet
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert not Progress(5, enabled=None, stream=io.StringIO()).enabled
    fake.get_ipython = lambda: types.SimpleNamespace(kernel=object())  # inside a kernel
    assert Progress(5, enabled=None, stream=io.StringIO()).enabled


def test_tqdm_bar_when_installed():
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    progress = Progress(3, enabled=True, stream=stream)
    for epoch in (1, 2, 3):
        progress.update(epoch, {"loss": 0.5})
    progress.close()
    assert "3/3" in stream.getvalue() and "loss 0.5" in stream.getvalue()
