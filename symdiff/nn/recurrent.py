"""Recurrent modules: SimpleRNN (Elman), LSTM and GRU, each one ``sd.scan`` over the time axis.

Inputs are batch first, ``(N, T, features)`` as in Keras and PyTorch's ``batch_first``; outputs are the last
hidden state ``(N, hidden)`` or, with ``return_sequences=True``, every hidden state ``(N, T, hidden)``. The input
projection of every step is one matrix product over the whole sequence before the loop (as cuDNN does), so the
loop body holds only the recurrent product and the gates. Gate order follows PyTorch (LSTM: input, forget, cell,
output; GRU: reset, update, new, with the reset gate applied after the recurrent product).
"""

from __future__ import annotations

from collections.abc import Callable

from ..autodiff.scan import scan
from ..ir import Node, ShapeError
from ..ops import sigmoid, tanh, transpose, zeros
from . import init as initializers
from .init import Initializer
from .layers import ActivationLike, _activation
from .module import Module, check_flags, check_positive


class _Recurrent(Module):
    """Parameters ``W`` (features, gates*hidden), ``U`` (hidden, gates*hidden), ``b`` (gates*hidden); subclasses
    give the step ``(carry, projected input) -> carry`` and which carry is the hidden state."""

    gates = 1

    def __init__(self, in_features: int, hidden: int, return_sequences: bool, init: str | Initializer,
                 recurrent_init: str | Initializer, dtype: str, name: str | None) -> None:
        super().__init__(name)
        in_features, hidden = check_positive(self, in_features=in_features, hidden=hidden)
        (self.return_sequences,) = check_flags(self, return_sequences=return_sequences)
        self.in_features, self.hidden = in_features, hidden
        width = self.gates * hidden
        self.W = self.add_parameter("W", (in_features, width), init, regularized=True, dtype=dtype)
        self.U = self.add_parameter("U", (hidden, width), recurrent_init, regularized=True, dtype=dtype)
        self.b = self.add_parameter("b", (width,), self.bias_init(), regularized=False, dtype=dtype)

    def bias_init(self) -> Initializer:
        return initializers.ZEROS

    def initial_carry(self, batch) -> Node | tuple[Node, ...]:
        return zeros((batch, self.hidden), self.W.dtype)

    def step(self, carry, projected: Node):
        raise NotImplementedError

    def hidden_state(self, carries):
        return carries

    def forward(self, x: Node, *, training: bool) -> Node:
        if x.ndim != 3 or x.shape[2] != self.in_features or isinstance(x.shape[1], str):
            raise ShapeError(f"{self.name}: expected inputs (N, T, {self.in_features}) with a concrete T (batch "
                             f"first), got shape {x.shape}")
        if x.shape[1] == 0:  # sd.scan would return the initial zeros: no step ever saw an input
            raise ShapeError(f"{self.name}: the sequence length T = 0 (input shape {x.shape}); a recurrent layer "
                             "needs at least one step")
        projected = transpose(x, (1, 0, 2)) @ self.W + self.b  # (T, N, gates*hidden): one product for all steps
        keep = "all" if self.return_sequences else "last"
        states = self.hidden_state(scan(self.step, self.initial_carry(x.shape[0]), projected, keep=keep))
        return transpose(states, (1, 0, 2)) if self.return_sequences else states


class SimpleRNN(_Recurrent):
    """Elman network: ``h_t = activation(x_t W + h_{t-1} U + b)`` (tanh by default), ``h_0 = 0``."""

    prefix = "simplernn"

    def __init__(self, in_features: int, hidden: int, *, activation: ActivationLike = "tanh",
                 return_sequences: bool = False, init: str | Initializer = "glorot_uniform",
                 recurrent_init: str | Initializer = "orthogonal", dtype: str = "float64",
                 name: str | None = None) -> None:
        self.activation: Callable[..., Node] = _activation(activation)
        super().__init__(in_features, hidden, return_sequences, init, recurrent_init, dtype, name)

    def step(self, h: Node, projected: Node) -> Node:
        return self.activation(projected + h @ self.U)


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997): carries ``(h, c)`` from zeros; the forget gate's
    bias starts at 1 (Jozefowicz et al. 2015), so the cell remembers by default."""

    prefix, gates = "lstm", 4

    def __init__(self, in_features: int, hidden: int, *, return_sequences: bool = False,
                 init: str | Initializer = "glorot_uniform", recurrent_init: str | Initializer = "orthogonal",
                 dtype: str = "float64", name: str | None = None) -> None:
        super().__init__(in_features, hidden, return_sequences, init, recurrent_init, dtype, name)

    def bias_init(self) -> Initializer:
        return initializers.LSTM_BIAS

    def initial_carry(self, batch) -> tuple[Node, Node]:
        return zeros((batch, self.hidden), self.W.dtype), zeros((batch, self.hidden), self.W.dtype)

    def step(self, carry: tuple[Node, Node], projected: Node) -> tuple[Node, Node]:
        h, c = carry
        z = projected + h @ self.U
        n = self.hidden
        c = sigmoid(z[:, n:2 * n]) * c + sigmoid(z[:, :n]) * tanh(z[:, 2 * n:3 * n])
        return sigmoid(z[:, 3 * n:]) * tanh(c), c

    def hidden_state(self, carries):
        return carries[0]


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014), PyTorch's form: ``r, u = sigmoid(x W + b + h U)`` (reset, update),
    ``n = tanh(x W_n + b_n + r * (h U_n + b_hn))``, ``h' = (1 - u) * n + u * h``; ``b_h`` (3*hidden) is the
    recurrent bias."""

    prefix, gates = "gru", 3

    def __init__(self, in_features: int, hidden: int, *, return_sequences: bool = False,
                 init: str | Initializer = "glorot_uniform", recurrent_init: str | Initializer = "orthogonal",
                 dtype: str = "float64", name: str | None = None) -> None:
        super().__init__(in_features, hidden, return_sequences, init, recurrent_init, dtype, name)
        self.b_h = self.add_parameter("b_h", (3 * hidden,), initializers.ZEROS, regularized=False, dtype=dtype)

    def step(self, h: Node, projected: Node) -> Node:
        n = self.hidden
        recurrent = h @ self.U + self.b_h
        gates = sigmoid(projected[:, :2 * n] + recurrent[:, :2 * n])
        reset, update = gates[:, :n], gates[:, n:]
        new = tanh(projected[:, 2 * n:] + reset * recurrent[:, 2 * n:])
        return (1.0 - update) * new + update * h
