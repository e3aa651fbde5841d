"""Parameter initializers: Glorot (Xavier) and He, uniform and normal, plus zeros and constants.

An :class:`Initializer` is a small value (a name and a number), so two layers asking for the same
parameter with the same initializer are recognisably the same request. The draw rules are a table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape``: inputs are every axis but the last, outputs the last."""
    if not shape:
        return 1, 1
    fan_out = shape[-1]
    fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else fan_out
    return max(fan_in, 1), max(fan_out, 1)


def _glorot_uniform(rng, shape, value):
    fan_in, fan_out = fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def _glorot_normal(rng, shape, value):
    fan_in, fan_out = fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def _he_uniform(rng, shape, value):
    limit = np.sqrt(6.0 / fans(shape)[0])
    return rng.uniform(-limit, limit, size=shape)


def _he_normal(rng, shape, value):
    return rng.normal(0.0, np.sqrt(2.0 / fans(shape)[0]), size=shape)


def _normal(rng, shape, value):
    return rng.normal(0.0, value, size=shape)


def _orthogonal(rng, shape, value):
    """Rows or columns orthonormal (whichever are fewer), as recurrent weights start: repeated products with them
    neither blow up nor vanish at first (Saxe et al. 2014). Shapes of more than two axes flatten the leading ones."""
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    q, r = np.linalg.qr(rng.normal(size=(max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))  # the sign fix makes the draw uniform over orthogonal matrices
    return (q if rows >= cols else q.T).reshape(shape)


def _lstm_bias(rng, shape, value):
    """Zeros with ones in the second quarter: an LSTM's forget-gate bias (gates in, forget, cell, out)."""
    bias = np.zeros(shape)
    bias[shape[0] // 4:shape[0] // 2] = 1.0
    return bias


def _constant(rng, shape, value):
    return np.full(shape, value, dtype=np.float64)


#: name -> ``draw(rng, shape, value)``; ``value`` is the constant or the standard deviation.
DRAWS: dict[str, Callable[[np.random.Generator, tuple[int, ...], float], np.ndarray]] = {
    "glorot_uniform": _glorot_uniform,
    "glorot_normal": _glorot_normal,
    "he_uniform": _he_uniform,
    "he_normal": _he_normal,
    "normal": _normal,
    "orthogonal": _orthogonal,
    "lstm_bias": _lstm_bias,
    "constant": _constant,
}


@dataclass(frozen=True)
class Initializer:
    """How to draw a parameter's starting value: a rule from :data:`DRAWS` and its number."""

    rule: str
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.rule not in DRAWS:
            raise ValueError(f"initializer: unknown rule {self.rule!r}; known rules: {sorted(DRAWS)}")

    def __call__(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return DRAWS[self.rule](rng, tuple(shape), self.value)


GLOROT_UNIFORM = Initializer("glorot_uniform")
GLOROT_NORMAL = Initializer("glorot_normal")
HE_UNIFORM = Initializer("he_uniform")
HE_NORMAL = Initializer("he_normal")
ORTHOGONAL = Initializer("orthogonal")
LSTM_BIAS = Initializer("lstm_bias")
ZEROS = Initializer("constant", 0.0)


def constant(value: float) -> Initializer:
    """Every entry equals ``value``."""
    return Initializer("constant", float(value))


def normal(std: float) -> Initializer:
    """Independent normal draws with mean 0 and standard deviation ``std``."""
    return Initializer("normal", float(std))


#: Rules that take a number (constant, normal) or fit one layer (an LSTM's bias): not chosen by name alone.
_NOT_BY_NAME = {"constant", "normal", "lstm_bias"}


def get_initializer(init: str | Initializer) -> Initializer:
    """An initializer from its rule name (``"he_normal"``) or as given."""
    if isinstance(init, Initializer):
        return init
    if init == "zeros":
        return ZEROS
    if not isinstance(init, str) or init not in DRAWS or init in _NOT_BY_NAME:
        known = sorted(set(DRAWS) - _NOT_BY_NAME | {"zeros"})
        raise ValueError(f"unknown initializer {init!r}; known names: {known} "
                         "(use nn.init.constant(v) or nn.init.normal(std) for the parametrised ones)")
    return Initializer(init)
