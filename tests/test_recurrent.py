"""SimpleRNN, LSTM and GRU modules (issue 16 point 4): values against NumPy loops written from the equations (and
PyTorch's modules when installed), gradients and second derivatives against central differences, compiled training
gradients on both backends against the reference, graph size independent of the sequence length."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from tests.test_differential import assert_same
from tests.test_nn_checks import check_second_order

R = np.random.default_rng(3)
N, T, F, HIDDEN = 3, 5, 2, 4


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def _reference(kind, x, p, return_sequences):
    """The recurrences, one step at a time (batch first)."""
    h = np.zeros((x.shape[0], HIDDEN))
    c = np.zeros_like(h)
    states = []
    for t in range(x.shape[1]):
        z = x[:, t] @ p["W"] + p["b"]
        if kind == "simplernn":
            h = np.tanh(z + h @ p["U"])
        elif kind == "lstm":
            z = z + h @ p["U"]
            i, f, g, o = (z[:, k * HIDDEN:(k + 1) * HIDDEN] for k in range(4))
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
        else:
            rec = h @ p["U"] + p["b_h"]
            r = _sigmoid(z[:, :HIDDEN] + rec[:, :HIDDEN])
            u = _sigmoid(z[:, HIDDEN:2 * HIDDEN] + rec[:, HIDDEN:2 * HIDDEN])
            n = np.tanh(z[:, 2 * HIDDEN:] + r * rec[:, 2 * HIDDEN:])
            h = (1 - u) * n + u * h
        states.append(h)
    return np.stack(states, axis=1) if return_sequences else h


MODULES = {"simplernn": nn.SimpleRNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _model(kind, return_sequences, tag, length=T):
    module = MODULES[kind](F, HIDDEN, return_sequences=return_sequences, name=f"{kind}_{tag}")
    values = nn.initial_values(module.parameters.values(), seed=1)
    values = {k: v + 0.1 * R.standard_normal(v.shape) for k, v in values.items()}  # non-zero biases too
    x = sd.tensor("x", ("batch", length, F))
    return module, x, values


@pytest.mark.parametrize("kind", sorted(MODULES))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_modules_match_the_recurrences(kind, return_sequences):
    module, x, values = _model(kind, return_sequences, f"values{int(return_sequences)}")
    data = R.standard_normal((N, T, F))
    got = sd.evaluate(module(x), {x: data, **values})
    short = {k.removeprefix(f"{module.name}_"): v for k, v in values.items()}
    np.testing.assert_allclose(got, _reference(kind, data, short, return_sequences), rtol=1e-12, atol=1e-14)
    assert got.shape == ((N, T, HIDDEN) if return_sequences else (N, HIDDEN))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_modules_match_pytorch(kind):
    torch = pytest.importorskip("torch")
    module, x, values = _model(kind, True, "torch")
    short = {k.removeprefix(f"{module.name}_"): v for k, v in values.items()}
    peer = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(F, HIDDEN, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        peer.weight_ih_l0.copy_(torch.tensor(short["W"].T))
        peer.weight_hh_l0.copy_(torch.tensor(short["U"].T))
        peer.bias_ih_l0.copy_(torch.tensor(short["b"]))
        peer.bias_hh_l0.copy_(torch.tensor(short.get("b_h", np.zeros(short["b"].shape))))
    data = R.standard_normal((N, T, F))
    want = peer(torch.tensor(data))[0].detach().numpy()
    np.testing.assert_allclose(sd.evaluate(module(x), {x: data, **values}), want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_gradients_and_second_order(kind):
    module, x, values = _model(kind, False, "grads")
    feed = {x: R.standard_normal((2, T, F)), **values}
    params = list(module.parameters.values())
    loss = sd.sum(sd.tanh(module(x)))
    sd.check_grad(loss, params + [x], feed)
    check_second_order(loss, params[:2], feed)


@pytest.mark.parametrize("backend", ["native", "numba"])
def test_compiled_training_gradients_match_the_reference(backend):
    x, y = sd.tensor("x", ("batch", T, F)), sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([  # sequences feed the next layer
        nn.SimpleRNN(F, HIDDEN, return_sequences=True, name=f"rnn_{backend}"),
        nn.LSTM(HIDDEN, HIDDEN, return_sequences=True, name=f"lstm_{backend}"),
        nn.GRU(HIDDEN, HIDDEN, name=f"gru_{backend}"), nn.Dense(HIDDEN, 3, name=f"head_{backend}")],
        name=f"stack_{backend}")
    loss = nn.softmax_cross_entropy(model(x), y)
    params = list(model.parameters.values())
    outputs = [loss] + sd.grad(loss, params)
    values = nn.initial_values(params, seed=4)
    fn = sd.compile([x, y, *params], outputs, backend=backend)
    for batch in (N, 1):
        feed = {x: R.standard_normal((batch, T, F)), y: R.integers(0, 3, batch), **values}
        got = fn(feed[x], feed[y], *(values[p.name] for p in params))
        for k, (g, w) in enumerate(zip(got, sd.evaluate(outputs, feed))):
            assert_same(g, w, 1e-11, f"output {k} at batch {batch}")


def test_graph_size_does_not_grow_with_the_sequence_length():
    sizes = []
    for length in (5, 50):
        module, x, _ = _model("lstm", False, f"size{length}", length)
        loss = sd.sum(module(x) ** 2)
        sizes.append(sd.count_nodes([loss] + sd.grad(loss, list(module.parameters.values()))))
    assert sizes[0] == sizes[1]


def test_recurrent_inputs_are_checked():
    module = nn.LSTM(F, HIDDEN, name="lstm_checked")
    with pytest.raises(sd.ShapeError, match=r"expected inputs \(N, T, 2\)"):
        module(sd.tensor("x", ("batch", F)))
    with pytest.raises(ValueError, match="hidden"):
        nn.GRU(F, 0, name="gru_bad")


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_return_sequences_must_be_a_bool(kind):
    for flag in ("false", 0, None):
        with pytest.raises(TypeError, match=rf"return_sequences must be True or False, got {flag!r}"):
            MODULES[kind](F, HIDDEN, return_sequences=flag, name=f"{kind}_flag")
    assert MODULES[kind](F, HIDDEN, return_sequences=np.bool_(True), name=f"{kind}_npflag").return_sequences is True


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_an_empty_sequence_is_refused_naming_its_length(kind):
    for return_sequences in (False, True):
        module, x, _ = _model(kind, return_sequences, f"empty{int(return_sequences)}", 0)
        with pytest.raises(sd.ShapeError, match=r"sequence length T = 0 \(input shape \('batch', 0, 2\)\)"):
            module(x)
