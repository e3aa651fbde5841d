"""The ``symdiff`` command on the tiny XOR spec (in subprocesses, and in this process through ``main``): help,
grad, compile (and import the exported kernels without symdiff), train, demo, Ctrl-C, and the exit codes and
one-line messages of bad input: files that cannot be specs, out-of-range numbers, data containing NaN."""

import dataclasses
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from symdiff.cli import main

XOR_SPEC = Path(__file__).resolve().parents[1] / "examples" / "specs" / "xor.toml"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "symdiff.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env=dict(os.environ, PYTHONWARNINGS="ignore"))


@pytest.mark.parametrize("command", [[], ["compile"], ["grad"], ["train"], ["demo"]])
def test_help_everywhere(command):
    result = run(*command, "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: symdiff")


def test_grad_prints_formulas():
    result = run("grad", XOR_SPEC)
    assert result.returncode == 0, result.stderr
    labels = [line.split(" = ")[0] for line in result.stdout.splitlines() if line.startswith("∂L/∂")]
    assert labels == ["∂L/∂xor_dense1_W", "∂L/∂xor_dense1_b", "∂L/∂xor_dense2_W", "∂L/∂xor_dense2_b"]
    latex = run("grad", XOR_SPEC, "--param", "xor_dense2_b", "--latex")
    assert latex.returncode == 0 and "\\frac{\\partial L}" in latex.stdout and "dense1_W}" not in latex.stdout
    unknown = run("grad", XOR_SPEC, "--param", "W9")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == ("symdiff grad: error: unknown parameter 'W9'; the parameters of 'xor' are: "
                                      "xor_dense1_W, xor_dense1_b, xor_dense2_W, xor_dense2_b")


def test_bad_spec_exits_2_with_the_message_and_no_traceback(tmp_path):
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"inputs": 2, "layers": [{"type": "dense", "units": -1}], "loss": "squared_error"}))
    for command in (["grad", spec], ["train", spec, "--data", "xor"], ["compile", spec, "-o", tmp_path / "k.py"]):
        result = run(*command)
        assert result.returncode == 2
        assert result.stderr.strip().endswith(f"error: {spec}: layers[0].units: expected a positive integer, "
                                              "got -1 (int)")
        assert "Traceback" not in result.stderr
    usage = run("train", XOR_SPEC, "--epochs", "0")
    assert usage.returncode == 2 and "--epochs: expected a positive integer, got '0'" in usage.stderr
    no_data = tmp_path / "nodata.json"
    no_data.write_text(json.dumps({"inputs": 2, "layers": [{"type": "dense", "units": 2}], "loss": "squared_error"}))
    result = run("train", no_data)
    assert result.returncode == 2 and "no data: pass --data NAME (xor, line" in result.stderr
    mismatch = run("train", XOR_SPEC, "--data", "digits")
    assert mismatch.returncode == 2
    assert "xor.toml: inputs: the data set 'digits' has 64 features per example, the spec says 2" in mismatch.stderr


def test_compile_exports_importable_standalone_kernels(tmp_path):
    (tmp_path / "out").mkdir()  # an output directory must exist: the command never creates one
    result = run("compile", XOR_SPEC, "-o", tmp_path / "out" / "xor_kernels.py")
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_file())
    assert files == ["xor_kernels.py", "xor_kernels_init.npz", "xor_kernels_predict.py", "xor_kernels_train_step.py"]
    script = textwrap.dedent("""
        import sys
        sys.modules["symdiff"] = None  # the exported modules must not need symdiff
        import numpy as np
        import xor_kernels as k
        values = k.initial_values()
        X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]); y = np.array([0, 1, 1, 0])
        arrays = [values[name] for name in k.TRAIN_STEP_ARGS[2:-1]]
        losses = [k.train_step(X, y, *arrays, 0.5) for _ in range(150)]
        outputs = k.predict(X, *[values[name] for name in k.PREDICT_ARGS[1:]])
        print(losses[0] > 10 * losses[-1], outputs.argmax(axis=1).tolist())
    """)
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path / "out")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split("\n")[0] == "True [0, 1, 1, 0]"
    bad = run("compile", XOR_SPEC, "-o", tmp_path / "kernels.txt")
    assert bad.returncode == 2 and "expected a file ending in .py" in bad.stderr


def test_train_reports_test_metrics_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    result = run("train", XOR_SPEC, "--epochs", "120", "--plot", tmp_path / "loss.png", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "training 'xor' on 'xor': 4 training and 4 test examples" in result.stdout
    assert "finished 120 epochs" in result.stdout and "accuracy 1.0000" in result.stdout
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_trains_digits_prints_a_formula_and_exports_the_kernel(tmp_path):
    result = run("demo", "-o", "step.py", "--epochs", "6", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    accuracy = float(result.stdout.split("test accuracy: ")[1].split("%")[0])
    assert accuracy > 85
    assert "∂L/∂b2 = " in result.stdout
    assert f"kernel (forward + backward + Adam) is in {tmp_path / 'step.py'}" in result.stdout
    assert "def train_step(x, y, digits_dense1_W" in (tmp_path / "step.py").read_text()


def _main(capsys, *args):
    """``main(args)`` in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


XOR_TEXT = XOR_SPEC.read_text()
JSON_SPEC = '{"inputs": 2, "layers": [{"type": "dense", "units": 2}], "loss": "softmax_cross_entropy"}'
DIGITS = "9" * 5000

# (file name, contents, what the one-line error says after "<file>: ")
BAD_FILES = {
    "non-UTF-8": ("latin.toml", XOR_TEXT.encode().replace(b'name = "xor"', b'name = "x\xffr"'),
                  "name: not UTF-8 text: byte 0xff at line 2, column 10; save the file as UTF-8"),
    "5000-digit integer (TOML)": ("digits.toml", XOR_TEXT.replace("units = 8", f"units = {DIGITS}").encode(),
                                  "units: an integer with 5000 digits at line 7, column 9; at most 4300 digits"),
    "5000-digit integer (JSON)": ("digits.json", JSON_SPEC.replace('"inputs": 2', f'"inputs": {DIGITS}').encode(),
                                  "inputs: an integer with 5000 digits at line 1, column 12"),
    "100k-deep JSON": ("deep.json", b"[" * 100_000 + b"]" * 100_000,
                       "nested more than 32 levels deep at line 1, column 33"),
    "deep TOML": ("deep.toml", b"inputs = " + b"[" * 100_000 + b"]" * 100_000,
                  "inputs: nested more than 32 levels deep at line 1, column 42"),
    "duplicate JSON key": ("dup.json", JSON_SPEC.replace('"inputs": 2', '"inputs": 2, "inputs": 3').encode(),
                           "inputs: invalid JSON: this key is given twice in one object"),
    "duplicate TOML key": ("dup.toml", XOR_TEXT.replace("inputs = 2", "inputs = 2\ninputs = 3").encode(),
                           "invalid TOML: Cannot overwrite a value (at line 4, column 11)"),
    "seed = -1": ("seed.toml", XOR_TEXT.replace("epochs = 200", "epochs = 200\nseed = -1").encode(),
                  "training.seed: expected an integer >= 0, got -1 (int)"),
    "seed = 2**64": ("seed64.toml", XOR_TEXT.replace("epochs = 200", f"epochs = 200\nseed = {2**64}").encode(),
                     f"training.seed: expected an integer >= 0, got {2**64} (int); integers in a spec lie in"),
    "metrics = [roc_auc]": ("roc_auc.toml", XOR_TEXT.replace("epochs = 200", 'epochs = 200\nmetrics = ["roc_auc"]').encode(),
                            "training.metrics: roc_auc needs a binary model's logits against 0/1 targets"),
    "units = 1e12": ("float_units.toml", XOR_TEXT.replace("units = 8", "units = 1e12").encode(),
                     "layers[0].units: expected a positive integer, got 1000000000000.0 (float)"),
    "units = 10**12": ("int_units.toml", XOR_TEXT.replace("units = 8", f"units = {10**12}").encode(),
                       "layers[0].units: this layer has 3,000,000,000,000 parameters, 3,000,000,000,000 in the model "
                       "so far; a spec may describe at most 100,000,000"),
    "lr = inf": ("inf.toml", XOR_TEXT.replace("lr = 0.5", "lr = inf").encode(),
                 "optimizer.lr: expected a finite number > 0, got inf (float)"),
    "lr = nan": ("nan.toml", XOR_TEXT.replace("lr = 0.5", "lr = nan").encode(),
                 "optimizer.lr: expected a finite number > 0, got nan (float)"),
    "momentum = nan": ("nan_momentum.toml", XOR_TEXT.replace("momentum = 0.9", "momentum = nan").encode(),
                       "optimizer.momentum: expected a finite number, got nan (float)"),
    "scale = 1e999 (JSON)": ("inf.json", (JSON_SPEC[:-1] + ', "regularizer": {"type": "l2", "scale": 1e999}}').encode(),
                             "regularizer.scale: expected a finite number >= 0, got inf (float)"),
}


def _one_line_error(code, err, *names):
    assert code == 2 and "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    for name in names:
        assert name in err


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_spec_file_is_one_line_naming_the_file_and_the_field(tmp_path, capsys, case):
    name, contents, message = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(contents)
    code, _, err = _main(capsys, "grad", path)
    _one_line_error(code, err, f"symdiff grad: error: {path}: {message}")


def test_a_utf8_byte_order_mark_is_accepted(tmp_path, capsys):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + XOR_TEXT.encode())
    code, out, err = _main(capsys, "grad", path, "--param", "xor_dense2_b")
    assert code == 0 and "\n∂L/∂xor_dense2_b = " in out, err


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--seed", "-1", "argument --seed: expected an integer >= 0, got '-1'"),
    ("--seed", DIGITS, "argument --seed: expected an integer >= 0, got '9999"),
    ("--lr", "inf", "argument --lr: expected a positive finite number, got 'inf'"),
    ("--lr", "nan", "argument --lr: expected a positive finite number, got 'nan'"),
    ("--lr", "1e400", "argument --lr: expected a positive finite number, got '1e400'"),
    ("--epochs", DIGITS, "argument --epochs: expected a positive integer, got '9999"),
], ids=["seed -1", "seed of 5000 digits", "lr inf", "lr nan", "lr 1e400", "epochs of 5000 digits"])
def test_bad_command_line_numbers_are_one_line_naming_the_option(capsys, option, value, message):
    code, _, err = _main(capsys, "train", XOR_SPEC, option, value)
    _one_line_error(code, err, f"symdiff train: error: {message}")


def test_scheduler_before_the_spec_is_told_to_move(capsys):
    code, _, err = _main(capsys, "train", "--scheduler", XOR_SPEC)
    _one_line_error(code, err, f"symdiff train: error: argument --scheduler: expected a scheduler address "
                    f"(tcp://host:8786) or 'local', got the file '{XOR_SPEC}'; put --scheduler after the spec")


def test_data_containing_nan_is_named_instead_of_advising_a_smaller_learning_rate(capsys, monkeypatch):
    from symdiff import train

    data = train.load_dataset("xor")
    X = data.X_train.copy()
    X[1, 0] = np.nan
    monkeypatch.setattr(train, "load_dataset", lambda name: dataclasses.replace(data, X_train=X))
    code, out, err = _main(capsys, "train", XOR_SPEC, "--no-progress")
    _one_line_error(code, err, "symdiff train: error: data set 'xor': X contains nan at row 1, column 0 (1 non-finite "
                    "value in all); remove or fill them before training")
    assert "compiling" not in out  # said before any work


def test_no_training_rows_left_names_the_spec_setting(tmp_path, capsys):
    path = tmp_path / "split.toml"
    path.write_text(XOR_TEXT.replace("validation_split = 0.0", "validation_split = 0.9"))
    code, _, err = _main(capsys, "train", path, "--no-progress")
    _one_line_error(code, err, f"{path}: training.validation_split: no training rows left: 4 rows given, "
                    "validation_split=0.9 holds out 4, leaving 0")


def _default_sigint() -> None:
    """In a child process before exec: Python then installs its KeyboardInterrupt handler (not if SIGINT is ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_training_says_what_was_kept_and_exits_130(capsys, monkeypatch, ctrl_c_raises):
    from symdiff.train.step import TrainStep

    step, calls = TrainStep.__call__, itertools.count(1)

    def interrupted_at_the_fifth_step(self, *data):
        loss = step(self, *data)
        if next(calls) == 5:
            signal.raise_signal(signal.SIGINT)
        return loss

    monkeypatch.setattr(TrainStep, "__call__", interrupted_at_the_fifth_step)
    code, out, err = _main(capsys, "train", XOR_SPEC, "--no-progress", "--epochs", "50")
    assert code == 130 and "test:" not in out
    assert re.fullmatch(r"symdiff train: interrupted after 5 finished epochs in [0-9.]+ s; kept the parameters of "
                        r"epoch [1-5]\n", err), err


def test_ctrl_c_in_a_real_process_exits_130():
    process = subprocess.Popen([sys.executable, "-m", "symdiff.cli", "train", XOR_SPEC, "--epochs", "100000000",
                                "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_default_sigint)
    try:
        for line in process.stdout:
            if line.startswith("training 'xor'"):
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130 and "Traceback" not in err, err
    assert err.startswith("symdiff train: interrupted") and err.count("\n") == 1


def test_version():
    from symdiff import __version__

    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"symdiff {__version__}"


@pytest.mark.parametrize("command", [
    ["compile", XOR_SPEC, "-o", "{missing}/k.py"], ["demo", "-o", "{missing}/demo.py"],
    ["train", XOR_SPEC, "--plot", "{missing}/loss.png"], ["train", XOR_SPEC, "--plot", "{tmp}/loss.gif"],
    ["compile", XOR_SPEC, "-o", "{tmp}"],
], ids=["compile -o", "demo -o", "train --plot", "plot suffix", "-o is a directory"])
def test_output_paths_are_checked_before_any_work(tmp_path, command):
    missing = tmp_path / "nonexistent"
    args = [str(a).format(missing=missing, tmp=tmp_path) for a in command]
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "compiling" not in result.stdout and "training" not in result.stdout  # refused before any work
    assert not missing.exists()  # never created
    assert result.stderr.count("\n") == 1 and ("does not exist" in result.stderr or "expected a file" in
                                                result.stderr or "is a directory" in result.stderr)


def test_the_cli_says_whether_the_kernel_was_compiled_or_loaded_from_the_cache(tmp_path):
    env_cache = dict(SYMDIFF_CACHE_DIR=str(tmp_path / "cache"))
    outputs = [subprocess.run([sys.executable, "-m", "symdiff.cli", "compile", str(XOR_SPEC), "-o",
                               str(tmp_path / f"k{i}.py")], capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, **env_cache)).stdout for i in range(2)]
    assert "compiled in" in outputs[0] and "loaded from the kernel cache" not in outputs[0]
    assert "loaded from the kernel cache" in outputs[1] and "compiled in" not in outputs[1]


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plots_are_written_in_the_format_their_suffix_names(tmp_path, suffix, magic):
    pytest.importorskip("matplotlib")
    from symdiff.train.history import History

    history = History()
    for loss in (1.0, 0.5, 0.25):
        history.record(loss=loss, val_loss=loss * 1.1, lr=0.1, seconds=0.0)
    path = history.plot(tmp_path / f"loss{suffix}")
    assert path.read_bytes().startswith(magic)
    assert type(history.plot()).__name__ == "Figure"  # no path: a figure for notebooks


def test_train_saves_a_model_that_predict_reads_from_csv(tmp_path):
    model = tmp_path / "xor_model"
    trained = run("train", XOR_SPEC, "--output", model, "--seed", "3", "--no-progress")
    assert trained.returncode == 0, trained.stderr
    assert f"model saved to {model}" in trained.stdout and (model / "params.npz").exists()
    assert json.loads((model / "spec.json").read_text())["training"]["seed"] == 3  # the seed it trained with
    data = tmp_path / "points.csv"
    data.write_text("a,b\n0,0\n0,1\n1,0\n1,1\n")
    predicted = run("predict", model, data, "-o", tmp_path / "out.csv")
    assert predicted.returncode == 0, predicted.stderr
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "label,p0,p1" and [line.split(",")[0] for line in lines[1:]] == ["0", "1", "1", "0"]
    stdout = run("predict", model, data)
    assert stdout.returncode == 0 and stdout.stdout.splitlines()[0] == "label,p0,p1"
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n0,0\n1\n")
    wrong = run("predict", model, bad)
    assert wrong.returncode == 2 and wrong.stderr.strip().endswith(
        f"{bad}: line 3: expected 2 comma-separated numbers, got 1")
    missing = run("train", XOR_SPEC, "--output", tmp_path / "nope" / "m")
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "training" not in missing.stdout


def test_train_on_your_own_csv_npz_and_npy_files(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)  # XOR-like quadrants
    csv = tmp_path / "quadrants.csv"
    csv.write_text("label,a,b\n" + "\n".join(f"{t},{a},{b}" for t, (a, b) in zip(y, X)) + "\n")
    trained = run("train", XOR_SPEC, "--data", csv, "--target", "label", "--epochs", "50", "--no-progress")
    assert trained.returncode == 0, trained.stderr
    assert "training 'xor' on 'quadrants.csv': 64 training and 16 test examples" in trained.stdout
    np.savez(tmp_path / "q.npz", X=X, y=y)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    for data in (tmp_path / "q.npz", f"{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}"):
        result = run("train", XOR_SPEC, "--data", data, "--epochs", "5", "--no-progress")
        assert result.returncode == 0, result.stderr
    spec = tmp_path / "own.toml"
    spec.write_text(XOR_SPEC.read_text().replace('data = "xor"', 'data = "quadrants.csv"').replace(
        "epochs = 200", "epochs = 5"))
    csv.write_text("a,b,label\n" + "\n".join(f"{a},{b},{t}" for t, (a, b) in zip(y, X)) + "\n")  # target last
    relative = run("train", spec, "--no-progress", cwd="/")
    assert relative.returncode == 0, relative.stderr  # training.data is relative to the spec file
    for args, message in [(["--data", csv, "--target", "nope"], "--target 'nope' is not a column"),
                          (["--data", tmp_path / "q.txt"], "expected a built-in data set name")]:
        bad = run("train", XOR_SPEC, *args)
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr


def test_a_data_file_that_is_not_utf8_is_one_line_naming_it(tmp_path, capsys):
    # train read the CSV header outside its error handling: a bare "'utf-8' codec can't decode" and exit 1 (predict
    # already named the file)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(b"\xe9,b,t\n1,2,0\n3,4,1\n")
    code, _, err = _main(capsys, "train", XOR_SPEC, "--data", latin1, "--no-progress")
    _one_line_error(code, err, f"symdiff train: error: {latin1}: cannot read the file: 'utf-8' codec can't decode")
