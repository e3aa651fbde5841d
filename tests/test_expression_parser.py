"""Expression strings (spec activations, nn.elementwise, compile_sympy) are data: parsed, never evaluated."""

import json
import time

import numpy as np
import pytest
import sympy

import symdiff as sd
from symdiff import nn
from symdiff.cli import main
from symdiff.nn.expression import ExpressionError, parse_expression

X = sympy.Symbol("x", real=True)
EXPLOIT = "tanh(x) + 0*Integer(__import__('os').system('touch pwned'))"


@pytest.mark.parametrize("text, want", [
    ("x*sigmoid(x)", X / (1 + sympy.exp(-X))),
    ("-x**2 + 3*x - 1/2", -X**2 + 3 * X - sympy.Rational(1, 2)),
    ("2**x * pi + E", 2**X * sympy.pi + sympy.E),
    ("Abs(x) + abs(x) + Max(x, 0, x**2 - 1) + minimum(x, 1)",
     2 * sympy.Abs(X) + sympy.Max(X, 0, X**2 - 1) + sympy.Min(X, 1)),
    ("atan(x) + arctan2(x, 1) + sqrt(1 + x**2) * cos(x) - log(2 + sin(x))",
     sympy.atan(X) + sympy.atan2(X, 1) + sympy.sqrt(1 + X**2) * sympy.cos(X) - sympy.log(2 + sympy.sin(X))),
    ("1.5e-3 * x", sympy.Float(1.5e-3) * X),
])
def test_grammar_builds_the_sympy_expression(text, want):
    helpers = {"sigmoid": sympy.Lambda(X, 1 / (1 + sympy.exp(-X)))}
    got = parse_expression(text, X, helpers)
    assert sympy.simplify(got - want) == 0


@pytest.mark.parametrize("text, message", [
    (EXPLOIT, r"unknown function: 'Integer'"),
    ("__import__('os').system('id')", r"unknown function: \"__import__\('os'\).system\" at column 1"),
    ("x.real", r"not allowed: 'x.real'"),
    ("x[0]", r"not allowed: 'x\[0\]'"),
    ("(lambda: 1)()", r"unknown function"),
    ("'x'", r"not a real number"),
    ("exp(x, base=2)", r"keyword arguments are not allowed"),
    ("x ^ 2", r"unsupported operator \(use \+ - \* / \*\*\)"),
    ("y * x", r"unknown name \(the variable is x\): 'y'"),
    ("x if x else 1", r"not allowed"),
    ("1e999 * x", r"not a finite number"),
    ("9" * 50 + " * x", r"number longer than 40"),
    ("x / 0", r"is not finite"),
    ("x*(", r"cannot parse"),
    ("(" * 300 + "x" + ")" * 300, r"cannot parse"),
    ("x + " * 600 + "x", r"longer than 2000|more than 400 parts"),
])
def test_anything_outside_the_grammar_is_refused_by_name(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text, X)


@pytest.mark.parametrize("text", ["x*9**9**9", "(10**999)**999 * x", "x + 2**(2**(2**(2**(2**9))))"])
def test_huge_constant_powers_are_refused_before_they_are_computed(text):
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match="constant power"):
        parse_expression(text, X)
    assert time.perf_counter() - start < 5  # a hang guard, not a speed claim: computing 9**9**9 takes hours


def test_the_exploit_string_runs_nothing_from_python_or_a_spec(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="unknown function: 'Integer'"):
        nn.elementwise("pwn", EXPLOIT)
    spec = {"name": "pwn", "inputs": 1, "loss": {"type": "squared_error"},
            "layers": [{"type": "dense", "units": 1, "activation": EXPLOIT}], "training": {"data": "curve", "epochs": 1}}
    path = tmp_path / "pwn.json"
    path.write_text(json.dumps(spec))
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert "pwn.json" in err and "activation" in err and "Integer" in err
    custom = dict(spec, activations={"evil": EXPLOIT})
    custom["layers"] = [{"type": "dense", "units": 1, "activation": "evil"}]
    path.write_text(json.dumps(custom))
    assert main(["train", str(path)]) == 2
    assert "activations.evil" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists()


def test_compile_sympy_refuses_strings_before_touching_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = sympy.Symbol("x")
    with pytest.raises(TypeError, match="not strings"):
        sd.compile_sympy("__import__('os').system('touch pwned')", [x])
    with pytest.raises(TypeError, match="not strings"):
        sd.compile_sympy([x**2, "x"], [x])

    class Text:
        def __str__(self):
            return "__import__('os').system('touch pwned')"

    with pytest.raises(TypeError, match="expected SymPy expressions, got Text"):
        sd.compile_sympy(Text(), [x])
    assert not (tmp_path / "pwned").exists()


def test_parsed_user_module_matches_its_sympy_definition():
    module = nn.elementwise("parsed_softsign", "x / (1 + abs(x))")
    t = np.linspace(-3, 3, 7)
    (value,) = sd.evaluate([module(sd.constant(t))], {})
    np.testing.assert_allclose(value, t / (1 + np.abs(t)))
