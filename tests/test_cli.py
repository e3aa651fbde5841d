"""The ``symdiff`` command, run in subprocesses on the tiny XOR spec: help, grad, compile (and import the
exported kernels without symdiff), train, demo, and the exit codes and messages of bad input."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
    assert bad.returncode == 2 and "expected a .py file" in bad.stderr


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
