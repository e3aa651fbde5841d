"""Training on data larger than memory (issue 17 point 3): chunk directories and Zarr stores opened as dask
arrays, the Trainer reading them one block at a time (each block once per epoch, never the whole array), the same
steps as in memory when there is one block, bad data named before training, and the CLI's ``--data DIR``."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from symdiff.cli import main
from symdiff.train import SGD, Trainer, TrainingInputError
from symdiff.train.chunks import ChunkedDataError, open_chunked, save_chunks

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

R = np.random.default_rng(3)
X_ALL = R.standard_normal((230, 4))
Y_ALL = (X_ALL @ np.array([1.0, -1.0, 0.5, 2.0]) > 0).astype(np.int64)
SPECS = __import__("pathlib").Path(__file__).parents[1] / "examples" / "specs"


@pytest.fixture(scope="module")
def trainer():
    """One compiled step for the module; every test starts it from the same parameters."""
    x, t = sd.tensor("x", ("batch", 4)), sd.tensor("t", ("batch",), "int64")
    made = Trainer(nn.Sequential([nn.Dense(4, 2)]), x, t, nn.softmax_cross_entropy, SGD(lr=0.2))
    made.start = {k: v.copy() for k, v in made.params.items()}
    return made


def _fresh(trainer):
    trainer.step.set_params(trainer.start)
    return trainer


def test_chunk_directory_round_trip_one_block_per_file(tmp_path):
    save_chunks(tmp_path, X_ALL, Y_ALL, rows_per_file=100)
    save_chunks(tmp_path, X_ALL[:30], Y_ALL[:30], rows_per_file=100, part="test")
    parts = open_chunked(tmp_path)
    assert set(parts) == {"train", "test"}
    X, y = parts["train"]
    assert X.chunks[0] == (100, 100, 30) and y.dtype == np.int64
    np.testing.assert_array_equal(X.compute(), X_ALL)
    np.testing.assert_array_equal(parts["test"][1].compute(), Y_ALL[:30])
    save_chunks(tmp_path, X_ALL[:50], Y_ALL[:50], rows_per_file=20)  # rewriting a part drops its old files
    assert open_chunked(tmp_path)["train"][0].chunks[0] == (20, 20, 10)


def test_zarr_store_opens_like_a_chunk_directory(tmp_path, trainer):
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(str(tmp_path / "data.zarr"), mode="w")
    group.create_array("X_train", data=X_ALL, chunks=(64, 2))  # chunked across columns too: rechunked by rows
    group.create_array("y_train", data=Y_ALL, chunks=(64,))
    X, y = open_chunked(tmp_path / "data.zarr")["train"]
    np.testing.assert_array_equal(X.compute(), X_ALL)
    assert _fresh(trainer).fit(X, y, epochs=1).epochs == 1


@pytest.mark.parametrize("damage, message", [
    ("no_y", "has X_train but no y_train"),
    ("rows", "X_train has 230 rows but y_train has 229"),
    ("object", "expected an array of numbers with rows, got dtype object"),
    ("columns", "rows of shape (3,) and dtype float64, but 000000.npy has (4,)"),
    ("empty", "no X_train and y_train in it"),
])
def test_bad_chunk_directories_are_named(tmp_path, damage, message):
    save_chunks(tmp_path, X_ALL, Y_ALL, rows_per_file=100)
    if damage == "no_y":
        for f in (tmp_path / "y_train").iterdir():
            f.unlink()
        (tmp_path / "y_train").rmdir()
    elif damage == "rows":
        np.save(tmp_path / "y_train" / "000002.npy", Y_ALL[200:229])
    elif damage == "object":  # a pickled array is refused from its header, never loaded
        np.save(tmp_path / "X_train" / "000001.npy", np.array([{"a": 1}] * 100, dtype=object), allow_pickle=True)
    elif damage == "columns":
        np.save(tmp_path / "X_train" / "000001.npy", X_ALL[100:200, :3])
    else:
        for part in ("X_train", "y_train"):
            (tmp_path / part).rename(tmp_path / part.replace("train", "other"))
    with pytest.raises(ChunkedDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        open_chunked(tmp_path)


def test_one_block_trains_exactly_as_in_memory(trainer):
    in_memory = _fresh(trainer).fit(X_ALL, Y_ALL, epochs=3, batch_size=16)
    expected = {k: v.copy() for k, v in trainer.params.items()}
    streamed = _fresh(trainer).fit(da.from_array(X_ALL, chunks=len(X_ALL)), Y_ALL, epochs=3, batch_size=16)
    for name, value in expected.items():
        np.testing.assert_allclose(trainer.params[name], value, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(streamed["loss"], in_memory["loss"], rtol=1e-12)


class Recorder:
    """Stands in for the compiled step: records the row ids (column 0) of each batch."""

    def __init__(self, step):
        self.step, self.batches = step, []

    def __getattr__(self, name):
        return getattr(self.step, name)

    def __call__(self, x, y):
        self.batches.append(x[:, 0].astype(int))
        return 0.5


def test_each_epoch_reads_every_block_once_in_a_new_order(trainer):
    reads = {}

    def block(k):
        reads[k] = reads.get(k, 0) + 1
        rows = np.arange(50 * k, 50 * k + 50)
        return np.column_stack([rows, np.zeros((50, 3))]).astype(float)

    X = da.concatenate([da.from_delayed(dask.delayed(block)(k), (50, 4), dtype=float) for k in range(5)])
    step, trainer.step = trainer.step, Recorder(trainer.step)
    try:
        trainer.fit(X, np.zeros(250, dtype=np.int64), epochs=3, batch_size=20, standardize=False)
        batches = trainer.step.batches
    finally:
        trainer.step = step
    assert reads == {k: 4 for k in range(5)}  # the survey pass, then once per epoch
    per_epoch = [batches[i:i + 15] for i in range(0, 45, 15)]  # 5 blocks of 3 batches (20, 20, 10 rows)
    orders = []
    for epoch in per_epoch:
        assert sorted(np.concatenate(epoch)) == list(range(250))
        assert all(len(set(b // 50)) == 1 for b in epoch)  # a batch never spans two blocks
        orders.append([int(b[0] // 50) for b in epoch[::3]])
    assert len({tuple(o) for o in orders}) > 1


def test_streamed_evaluation_and_validation_equal_in_memory(trainer):
    X = da.from_array(X_ALL, chunks=70)
    history = _fresh(trainer).fit(X, Y_ALL, epochs=2, validation_data=(X[:90], Y_ALL[:90]))
    in_memory = trainer.evaluate(X_ALL[:90], Y_ALL[:90])
    assert history["val_loss"][-1] == pytest.approx(in_memory["loss"], rel=1e-12)
    streamed = trainer.evaluate(X[:90], da.from_array(Y_ALL[:90], chunks=40))
    assert streamed == pytest.approx(in_memory, rel=1e-12)


@pytest.mark.parametrize("change, field, message", [
    ("nan", "X", r"block 2 of 4 \(rows 140\.\.209\): X contains nan at row 143, column 1"),
    ("label", "Y", r"block 1 of 4 \(rows 70\.\.139\): targets \(rows counted from row 70\): label 7 at index "
                   r"\(5,\) is out of range \[0, 2\)"),
    ("split", "validation_split", "pass validation_data"),
    ("rows", "Y", "X has 230 rows but Y has 229"),
])
def test_bad_streamed_data_is_named_before_training(trainer, change, field, message):
    X, Y, options = X_ALL.copy(), Y_ALL.copy(), {}
    if change == "nan":
        X[143, 1] = np.nan
    elif change == "label":
        Y[75] = 7
    elif change == "split":
        options = {"validation_split": 0.2}
    else:
        Y = Y[:229]
    before = {k: v.copy() for k, v in _fresh(trainer).params.items()}
    with pytest.raises(TrainingInputError, match=message) as raised:
        trainer.fit(da.from_array(X, chunks=70), Y, epochs=1, **options)
    assert raised.value.field == field
    assert all(np.array_equal(trainer.params[k], v) for k, v in before.items())


def _cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_trains_from_a_chunk_directory(tmp_path, capsys):
    digits = sd.train.load_dataset("digits")
    save_chunks(tmp_path, digits.X_train, digits.y_train, rows_per_file=500)
    code, _, err = _cli(capsys, "train", SPECS / "digits.toml", "--data", tmp_path, "--epochs", "1")
    assert code == 2 and "training.validation_split" in err and "X_valid/" in err
    save_chunks(tmp_path, digits.X_test[:100], digits.y_test[:100], rows_per_file=500, part="valid")
    code, out, err = _cli(capsys, "train", SPECS / "digits.toml", "--data", tmp_path, "--epochs", "2")
    assert code == 0, err
    assert "no test rows" in out
    save_chunks(tmp_path, digits.X_test[100:], digits.y_test[100:], rows_per_file=500, part="test")
    code, out, err = _cli(capsys, "train", SPECS / "digits.toml", "--data", tmp_path, "--epochs", "4")
    assert code == 0, err
    assert float(out.split("accuracy ")[-1].split()[0]) > 0.8


def test_chunks_can_be_written_piece_by_piece(tmp_path):
    for begin in range(0, 230, 100):
        save_chunks(tmp_path, X_ALL[begin:begin + 100], Y_ALL[begin:begin + 100], rows_per_file=60, append=True)
    X, y = open_chunked(tmp_path)["train"]
    assert X.chunks[0] == (60, 40, 60, 40, 30)
    np.testing.assert_array_equal(X.compute(), X_ALL)
    np.testing.assert_array_equal(y.compute(), Y_ALL)


def test_without_dask_opening_says_what_to_install(tmp_path, monkeypatch):
    save_chunks(tmp_path, X_ALL, Y_ALL, rows_per_file=100)  # writing needs NumPy only
    for name in ("dask", "dask.array"):
        monkeypatch.setitem(__import__("sys").modules, name, None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[distributed\]"'):
        open_chunked(tmp_path)


@pytest.mark.parametrize("how", [True, "global"])
def test_standardization_of_a_dask_array_equals_in_memory(trainer, how):
    trainer.fit_standardization(X_ALL, how)
    expected = trainer.mean.copy(), trainer.scale.copy()
    trainer.fit_standardization(da.from_array(X_ALL, chunks=70), how)
    np.testing.assert_allclose(trainer.mean, expected[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(trainer.scale, expected[1], rtol=1e-12)
