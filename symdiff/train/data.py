"""Built-in data sets: XOR, a noisy line, a 1-D curve, synthetic regression and classification, digits.

Each loader returns a :class:`Dataset` with a train and a test part. Synthetic sets depend only on
their arguments (and ``seed``). The digits are the 8x8 handwritten digits scikit-learn ships (UCI
optdigits test set, CC BY 4.0); a copy is included as ``digits.npz`` (see ``DIGITS_NOTICE.txt``), with
scikit-learn as the fallback source when the copy is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIGITS_FILE = Path(__file__).with_name("digits.npz")


@dataclass(frozen=True)
class Dataset:
    """Arrays for training and testing (NumPy, or dask arrays for data larger than memory). ``classes`` is the
    number of labels (None for regression, whose targets are 2-d float arrays); ``validation`` optional
    ``(X, y)`` rows set apart for validation."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: int | None
    validation: tuple | None = None

    def __repr__(self) -> str:
        kind = f"{self.classes} classes" if self.classes is not None else f"{self.outputs} real-valued targets"
        return (f"Dataset({self.name!r}: {len(self.X_train)} training and {len(self.X_test)} test rows, "
                f"{self.features} features, {kind})")

    @property
    def features(self) -> int:
        """Number of input features (columns of X)."""
        return self.X_train.shape[1]

    @property
    def outputs(self) -> int:
        """Width of the model output the targets call for: classes, or target columns."""
        return self.classes if self.classes is not None else self.y_train.shape[1]


def split(name: str, X: np.ndarray, y: np.ndarray, test_fraction: float, seed: int,
          classes: int | None) -> Dataset:
    """A :class:`Dataset` from a seeded shuffle of ``X, y`` with ``test_fraction`` of the rows held out."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"{name}: test_fraction must be in [0, 1), got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = int(round(test_fraction * len(X)))
    test, train = order[:n_test], order[n_test:]
    return Dataset(name, X[train], y[train], X[test], y[test], classes)


def xor() -> Dataset:
    """The four XOR points (labels 0/1), used for training and testing alike."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    return Dataset("xor", X, y, X.copy(), y.copy(), 2)


def line(n: int = 100, *, slope: float = 0.1, intercept: float = 0.3, noise: float = 0.0, seed: int = 0) -> Dataset:
    """``y = slope * x + intercept (+ noise)`` for ``x`` uniform in [0, 1) (one feature, one target)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1))
    y = slope * x + intercept + noise * rng.normal(size=(n, 1))
    return split("line", x, y, 0.2, seed, None)


def curve(n: int = 200, *, noise: float = 0.1, seed: int = 0) -> Dataset:
    """A 1-D regression task: ``y = sin(2x) + x/2 + noise`` for ``x`` uniform in [-3, 3]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3.0, 3.0, size=(n, 1))
    y = np.sin(2.0 * x) + 0.5 * x + noise * rng.normal(size=(n, 1))
    return split("curve", x, y, 0.25, seed, None)


def regression(n: int = 500, features: int = 8, outputs: int = 1, *, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Targets from a random smooth teacher: ``tanh(X A) B + noise`` with standard normal inputs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    A = rng.normal(size=(features, 16)) / np.sqrt(features)
    B = rng.normal(size=(16, outputs)) / 4.0
    y = np.tanh(X @ A) @ B + noise * rng.normal(size=(n, outputs))
    return split("regression", X, y, 0.2, seed, None)


def classification(n: int = 1000, features: int = 20, classes: int = 10, *, spread: float = 1.0,
                   seed: int = 0) -> Dataset:
    """Gaussian clusters: two centers per class at distance ~3 from the origin, unit-variance noise
    scaled by ``spread`` (more spread, more overlap)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(2 * classes, features))
    centers *= 3.0 / np.linalg.norm(centers, axis=1, keepdims=True)
    which = rng.integers(0, 2 * classes, size=n)
    X = centers[which] + spread * rng.normal(size=(n, features))
    return split("classification", X, which % classes, 0.2, seed, classes)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    if DIGITS_FILE.exists():
        with np.load(DIGITS_FILE, allow_pickle=False) as data:
            return data["images"].astype(np.float64), data["labels"].astype(np.int64)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise RuntimeError(f"the digits data file {DIGITS_FILE} is missing from this installation and scikit-learn "
                           "is not installed; reinstall symdiff, or: pip install scikit-learn") from None
    bunch = load_digits()
    return bunch.data.astype(np.float64), bunch.target.astype(np.int64)


def digits(*, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """The 1797 8x8 handwritten digits (64 features, pixels 0..16; 10 classes), seeded split."""
    X, y = _digits_arrays()
    return split("digits", X, y, test_fraction, seed, 10)


def binary_addition(n: int = 2000, bits: int = 8, *, seed: int = 0) -> Dataset:
    """Adding two binary numbers digit by digit, least significant first: example ``i`` holds the digit pairs
    ``(a_0, b_0, a_1, b_1, ...)`` (``2 * bits`` features) of two numbers below ``2**(bits - 1)``, its targets the
    ``bits`` digits of ``a + b`` (0/1 values). A recurrent network learns the carry; one step per digit."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2 ** (bits - 1), size=(2, n))
    digits_of = (lambda v: (v[:, None] >> np.arange(bits)) & 1)
    X = np.stack([digits_of(a), digits_of(b)], axis=2).reshape(n, 2 * bits).astype(np.float64)
    return split("binary_addition", X, digits_of(a + b).astype(np.float64), 0.2, seed, None)


#: Data sets by name (``symdiff train --data NAME``); each loader takes keyword options and ``seed``.
DATASETS: dict[str, Callable[..., Dataset]] = {
    "xor": xor, "line": line, "curve": curve, "regression": regression, "classification": classification,
    "digits": digits, "binary_addition": binary_addition,
}


def load_dataset(name: str, **options) -> Dataset:
    """The data set called ``name`` (see :data:`DATASETS`)."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; built-in data sets: {', '.join(DATASETS)}")
    return DATASETS[name](**options)
