"""Formulas, LaTeX, the text dump, Graphviz output and the Jupyter wrappers."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symdiff as sd
from symdiff import printing
from symdiff.printing import display, display_graph, dprint, formula, latex, render, to_dot, to_sympy
from symdiff.printing.dump import dump
from symdiff.printing.formula_text import latex_label
from symdiff.printing.listing import MAX_INLINE
from symdiff.printing.prepare import rewrite_available

ROOT = Path(__file__).resolve().parents[1]


def backprop():
    """The lecture's 2-layer tanh network with squared loss, and its derived weight gradients."""
    x, t = sd.tensor("x", ("batch", 3)), sd.tensor("t", ("batch", 2))
    W1, W2 = sd.tensor("W1", (3, 4)), sd.tensor("W2", (4, 2))
    E = 0.5 * sd.sum((sd.tanh(x @ W1) @ W2 - t) ** 2)
    gW1, gW2 = sd.grad(E, [W1, W2])
    return {"∂E/∂W1": gW1, "∂E/∂W2": gW2}


def definitions(text: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in text.splitlines())


def test_backprop_gradients_read_like_the_lecture():
    lines = definitions(formula(backprop()))
    # z = tanh(x W1) is shared by the forward pass, δ_hidden and ∂E/∂W2: it gets a name.
    (z,) = [name for name, rhs in lines.items() if rhs == "tanh(x @ W1)"]
    # δ_out = y - t with y = z W2, shared by both gradients.
    (delta_out,) = [name for name, rhs in lines.items() if rhs == f"{z} @ W2 - t"]
    # ∂E/∂W1 = xᵀ δ_hidden with δ_hidden = (1 - z²) ⊙ (δ_out W2ᵀ).
    hidden = re.fullmatch(r"xᵀ @ \((.*)\)", lines["∂E/∂W1"]).group(1)
    assert sorted(hidden.split(" ⊙ ")) == sorted([f"(1 - {z}²)", f"({delta_out} @ W2ᵀ)"])
    assert lines["∂E/∂W2"] == f"{z}ᵀ @ {delta_out}"


def test_backprop_latex_uses_matrix_notation():
    text = latex(backprop())
    assert text.startswith("\\begin{aligned}") and text.endswith("\\end{aligned}")
    assert "\\frac{\\partial E}{\\partial W_{1}} &= x^{\\top}" in text
    assert "\\odot" in text and "W_{2}^{\\top}" in text and "\\tanh" in text


def test_names_pin_inner_nodes():
    x, W = sd.tensor("x", (5, 3)), sd.tensor("W", (3, 2))
    z = sd.tanh(x @ W)
    assert formula(sd.sum(z * z) + sd.sum(z), names={z: "z"}) == "z = tanh(x @ W)\nΣ(z) + Σ(z²)"


def test_formulas_are_the_same_in_another_process():
    script = ("import symdiff as sd\nfrom tests.test_printing import backprop\n"
              "print(sd.printing.formula(backprop()))\nprint(sd.printing.latex(backprop()))")
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    assert out.stdout == formula(backprop()) + "\n" + latex(backprop()) + "\n"


def test_known_scalar_gradient_prints_simplified():
    x = sd.scalar("x")
    assert formula(sd.grad(sd.sin(0.5 * x**2), x)) == "x·cos(x²/2)"
    assert latex(sd.grad(sd.sin(0.5 * x**2), x)) == r"x \cos{\left(\frac{x^{2}}{2} \right)}"


@pytest.mark.parametrize("build, text", [
    (lambda x: x**3, "3·x²"),
    (lambda x: sd.log(x), "1/x"),
    (lambda x: sd.tanh(x), "1 - tanh(x)²"),  # SymPy's 1/cosh(x)² is no shorter, so the lecture's form stays
    (lambda x: sd.exp(2.0 * x) / 4.0, "exp(2·x)/2"),
    (lambda x: sd.sqrt(x), "1/(2·√x)"),
])
def test_simple_derivatives_print_exactly(build, text):
    x = sd.scalar("x")
    assert formula(sd.grad(build(x), x)) == text


@pytest.mark.parametrize("build", [
    lambda x: x**3 * sd.exp(-x),
    lambda x: sd.tanh(x) ** 2,
    lambda x: sd.log(1.0 + x * x) / x,
    lambda x: sd.sigmoid(3.0 * x),
    lambda x: sd.sqrt(x) * sd.cos(x),
], ids=["poly-exp", "tanh2", "log-ratio", "sigmoid", "sqrt-cos"])
def test_scalar_gradients_equal_sympys_derivative(build):
    x = sd.scalar("x")
    X = sp.Symbol("x", real=True)
    difference = to_sympy(sd.grad(build(x), x), real=True) - sp.diff(to_sympy(build(x), real=True), X)
    assert sp.cancel(difference.rewrite(sp.exp)) == 0


def test_a_formula_names_outputs_of_a_list():
    x = sd.scalar("x")
    assert formula([x * x, 2.0 * x]) == "out0 = x²\nout1 = 2·x"


def test_shared_values_are_defined_once():
    v = sd.tensor("v", (3,))
    u = sd.exp(v)
    lines = formula(u * u + sd.sin(u) + sd.cos(u)).splitlines()
    assert lines == ["t1 = exp(v)", "t1² + sin(t1) + cos(t1)"]


def test_long_subexpressions_get_their_own_lines():
    v = sd.tensor("v", (3,))
    e = v
    for f in [sd.sin, sd.cos, sd.exp, sd.tanh, sd.sqrt, sd.log] * 3:
        e = f(e) + v
    lines = formula(e).splitlines()
    assert len(lines) > 2
    assert all(len(line.split(" = ", 1)[-1]) <= 2 * MAX_INLINE for line in lines)
    assert all(re.fullmatch(r"t\d+", line.split(" = ")[0]) for line in lines[:-1])


@pytest.mark.parametrize("build, text", [
    (lambda h: sd.transpose(h, (2, 0, 1)) * 2.0, "2·transpose(h, axes: (2, 0, 1))"),
    (lambda h: sd.swapaxes(h, 1, 2), "hᵀ"),
    (lambda h: h[1:, ::2, 0] ** 2, "h[1:, ::2, 0]²"),
    (lambda h: sd.sum(h, axis=1), "Σ₁(h)"),
    (lambda h: sd.max(h, axis=(0, 2)), "max₀,₂(h)"),
    (lambda h: sd.mean(h * h), "Σ(h²)/24"),
    (lambda h: sd.reshape(h, (6, 4)), "reshape(h, to: (6, 4))"),
    (lambda h: sd.expand_dims(sd.exp(h), 0), "exp(h)"),
    (lambda h: h * sd.constant(np.arange(4.0)), "[0.0, 1.0, 2.0, 3.0] ⊙ h"),
    (lambda h: sd.where(h > 0, h, 0.1 * h), "where(h > 0, h, h/10)"),
], ids=["permute", "swap-last", "slice", "sum-axis", "max-axes", "mean", "reshape", "expand", "literal", "where"])
def test_tensor_notation(build, text):
    assert formula(build(sd.tensor("h", (2, 3, 4)))) == text


def test_wheres_print_nested_and_as_one_cases_block():
    h = sd.tensor("h", (3,))
    e = sd.where(h > 0, h, sd.where(h < -1, -h, 0.5 * h)) + sd.cast(h > 1, "float64")
    assert formula(e) == "[h > 1] + where(h > 0, h, where(h < -1, -h, h/2))"
    assert latex(e) == (r"\left[h > 1\right] + \begin{cases} h & \text{for}\: h > 0 \\- h & \text{for}\: h < -1 "
                        r"\\\frac{h}{2} & \text{otherwise} \end{cases}")


def test_mean_over_a_named_dim_divides_by_it():
    X = sd.tensor("X", ("batch", 5))
    assert formula(sd.mean(X * X, axis=0)) == "Σ₀(X²)/batch"


def test_relu_gradient_uses_indicator_brackets():
    X, W = sd.tensor("X", (4, 5)), sd.tensor("W", (5, 3))
    text = formula(sd.grad(sd.sum(sd.maximum(X @ W, 0.0)), W))
    assert "[t1 > 0]" in text and text.startswith("t1 = X @ W\nXᵀ @ (")


@pytest.mark.parametrize("label, tex", [
    ("W1", "W_{1}"), ("∂E/∂W1", r"\frac{\partial E}{\partial W_{1}}"), ("grad of E", r"\text{grad of E}"),
])
def test_latex_labels(label, tex):
    assert latex_label(label) == tex


@pytest.mark.parametrize("bad, error, message", [
    ("x", TypeError, "formula: expected a node"),
    ([], ValueError, "no outputs"),
    ({"g": 3.0}, TypeError, "output 'g' must be a symdiff node, got float"),
])
def test_bad_outputs_are_named(bad, error, message):
    with pytest.raises(error, match=message):
        formula(bad)


def test_dprint_expands_shared_nodes_once():
    gradients = backprop()
    text = dump(gradients)
    *tree, summary = text.splitlines()
    definitions_ = re.findall(r"%(\d+) = ", text)
    references = re.findall(r"%(\d+) ↑", text)
    # x, W2, z, δ_out, and x @ W1, which tanh's derivative reads (it is computed from the pre-activation)
    assert len(definitions_) == len(set(definitions_)) == 5
    assert set(references) == set(definitions_)
    for k in set(definitions_):  # each shared node is expanded before it is referenced
        assert text.index(f"%{k} = ") < text.index(f"%{k} ↑")
    assert tree[0].startswith("∂E/∂W1: matmul  (3, 4) float64")
    assert any(line.endswith("input x  (batch, 3) float64") for line in tree)
    assert summary.startswith(f"{sd.count_nodes(list(gradients.values()))} nodes (4 inputs,")
    assert ("after simplify:" in summary) == rewrite_available()


def test_dprint_prints_to_a_file(capsys):
    x = sd.scalar("x")
    dprint(x * 2.0)
    assert capsys.readouterr().out.startswith("multiply  () float64\n├── input x  () float64\n└── const 2.0")


def dot_statements(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    """Declared vertices and edges of DOT text written one statement per line."""
    vertices, edges = set(), []
    for line in text.splitlines()[1:-1]:
        edge = re.match(r"\s*(\w+) -> (\w+)", line)
        if edge:
            edges.append(edge.groups())
        elif re.match(r"\s*\w+ \[", line) and not line.strip().startswith(("node", "edge")):
            vertices.add(line.split()[0])
    return vertices, edges


def test_dot_output_is_well_formed():
    gradients = backprop()
    text = to_dot(gradients)
    assert text.startswith('digraph "symdiff" {') and text.rstrip().endswith("}")
    assert text.count("{") == text.count("}")
    vertices, edges = dot_statements(text)
    assert len(vertices) == sd.count_nodes(list(gradients.values())) + len(gradients)
    assert all(a in vertices and b in vertices for a, b in edges)
    assert '"∂E/∂W1"' in text and 'label="input x\\n(batch, 3) float64"' in text


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pydot's parser uses old pyparsing names
def test_dot_output_parses_with_pydot():
    pydot = pytest.importorskip("pydot")
    x = sd.scalar("x")
    text = to_dot({"f": sd.where(x > 0, x * x, -x), "g": 2.0 * x})
    (graph,) = pydot.graph_from_dot_data(text)
    vertices, edges = dot_statements(text)
    assert {n.get_name() for n in graph.get_nodes()} >= vertices
    assert len(graph.get_edges()) == len(edges)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_writes_svg_and_png(tmp_path):
    svg = render(backprop(), tmp_path / "grad.svg")
    assert "<svg" in svg.read_text()
    png = render(backprop(), tmp_path / "grad.png")
    assert png.read_bytes().startswith(b"\x89PNG")


def test_render_names_the_missing_program(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz's `dot` program"):
        render(backprop(), tmp_path / "grad.svg")
    with pytest.raises(ValueError, match="cannot tell the format"):
        render(backprop(), tmp_path / "grad.txt")


def test_display_wrappers():
    gradients = backprop()
    shown = display(gradients)
    assert str(shown) == formula(gradients)
    assert shown._repr_latex_() == f"$\\displaystyle {latex(gradients)}$"
    graph = display_graph(gradients)
    assert str(graph) == dump(gradients)
    if shutil.which("dot") is not None:
        assert "<svg" in graph._repr_svg_() and graph._repr_html_() == graph._repr_svg_()


def test_graph_display_falls_back_to_text_without_graphviz(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    graph = display_graph(sd.scalar("x") * 2.0)
    assert graph._repr_svg_() is None
    assert graph._repr_html_().startswith("<pre>multiply  () float64")


def test_importing_printing_does_not_import_sympy():
    script = "import sys, symdiff.printing; assert 'sympy' not in sys.modules, 'sympy was imported'"
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_public_names():
    assert set(printing.__all__) >= {"formula", "latex", "dprint", "to_dot", "render", "from_sympy", "to_sympy",
                                     "display", "display_graph"}


def test_latex_prints_long_parameter_names_upright_and_short_ones_with_subscripts():
    W, x = sd.tensor("digits_dense1_W", (3, 2)), sd.tensor("x", ("batch", 3))
    text = sd.latex({"∂L/∂digits_dense1_W": sd.grad(sd.sum(sd.tanh(x @ W)), W)})
    assert r"\mathrm{digits\_dense1\_W}" in text and "digits_{" not in text and "shape=" not in text
    assert sd.latex(sd.tanh(x @ sd.tensor("W1", (3, 2)))) == r"\tanh{\left(x W_{1} \right)}"


def test_printed_derivatives_hold_no_raw_python_or_internal_leftovers():
    # issue 15 point 9: a slice's and a gather's adjoints print as math (place, scatter), shapes without quotes
    from symdiff import nn

    x, y, v = sd.tensor("x", ("batch", 4)), sd.tensor("y", ("batch",), "int64"), sd.tensor("v", (5,))
    model = nn.Sequential([nn.Dense(4, 3, "tanh", name="raw_d1"), nn.Dense(3, 2, name="raw_d2")], name="raw")
    texts = [sd.formula(sd.grad(nn.softmax_cross_entropy(model(x), y), model.parameters["raw_d1_W"])),
             sd.formula(sd.hessian(sd.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1.0 - v[:-1]) ** 2), v)),
             sd.formula(sd.grad(sd.mean(x ** 2) * 2.0, x)), sd.formula(sd.reshape(v[:4], (2, 2)) @ v[:2])]
    for text in texts:
        for leftover in ("shape=", "index=", "axis=", "pad_slice", "scatter_add", "broadcast_to", "Σ(0)", "'"):
            assert leftover not in str(text), (leftover, str(text))
    assert "scatter(-1/batch, y, axis: 1, in: (batch, 2))" in str(texts[0])
    assert "place(" in str(texts[1]) and "at: [:, 1:], in: (5, 5)" in str(texts[1])
    assert "reshape(v[:4], to: (2, 2))" in str(texts[3])


def test_a_column_reshaped_to_a_row_prints_as_a_transpose():
    # with one output unit, the backward pass's W2ᵀ is a reshape (4, 1) -> (1, 4) after simplification, which the
    # listing printed as nothing: '(z @ W2 - t) @ W2', not even a valid product (second first-hour bug hunt)
    x, t = sd.tensor("x", ("batch", 3)), sd.tensor("t", ("batch", 1))
    W1, W2 = sd.tensor("W1", (3, 4)), sd.tensor("W2", (4, 1))
    z = sd.tanh(x @ W1)
    gradient = sd.grad(0.5 * sd.sum((z @ W2 - t) ** 2), W1)
    assert "@ W2ᵀ)" in str(sd.formula(gradient, names={z: "z"}))
    assert r"W_{2}^{\top}" in sd.latex(gradient, names={z: "z"})


def test_a_vector_as_a_row_and_as_a_column_print_apart():
    # a reshape that adds or drops length-1 axes printed as nothing, so x as a (1, 3) row and as a (3, 1) column
    # were one symbol: x_j - x_i printed as 0, the outer product as x² (third bug hunt)
    x, u, v = sd.tensor("x", (3,)), sd.tensor("u", (3,)), sd.tensor("v", (3,))
    row, col = sd.reshape(x, (1, 3)), sd.reshape(x, (3, 1))
    cases = {
        "x - reshape(x, to: (3, 1))": row - col,
        "reshape(x, to: (3, 1)) ⊙ x": row * col,
        "reshape(x, to: (3, 1)) + x": sd.expand_dims(x, 0) + sd.expand_dims(x, 1),
        "reshape(x, to: (3, 1)) @ reshape(x, to: (1, 3))": col @ row,
        "Σ((reshape(u, to: (3, 1)) @ reshape(v, to: (1, 3)))²)": sd.sum((u[:, None] @ v[None, :]) ** 2),
        "2·x": col * 2.0,  # one operand: every entry is 2 x_i whichever way it stands
        "W @ x": sd.reshape(sd.tensor("W", (2, 3)) @ col, (2,)),  # a product with a column is the product with x
    }
    for text, graph in cases.items():
        assert sd.formula(graph) == text
    with pytest.raises(sd.SympyConversionError, match="not elementwise"):
        sd.to_sympy(row - col)
