"""Radial-basis-function layer ``a = sum_j u_j exp(-beta_j ||x - w_j||^2)`` and k-means centers."""

from __future__ import annotations

import warnings

import numpy as np

from .. import ops
from ..ir import Node
from ..ops import exp, expand_dims
from . import init as initializers
from .module import Module, check_features, check_positive


def kmeans(data: np.ndarray, k: int, *, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """``k`` cluster centers of the rows of ``data``: SciPy's ``kmeans2`` with k-means++ seeding (deterministic
    for a ``seed``)."""
    from scipy.cluster.vq import kmeans2

    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2 or len(data) < k:
        raise ValueError(f"kmeans: need a 2-d array with at least k={k} rows, got shape {data.shape}")
    with warnings.catch_warnings():  # an empty cluster keeps its previous center, which is all we need
        warnings.simplefilter("ignore", UserWarning)
        centers, _ = kmeans2(data, k, iter=iterations, minit="++", missing="warn", rng=np.random.default_rng(seed))
    return centers


class RBF(Module):
    """``out_features`` outputs ``sum_j u[j] * exp(-beta[j] * ||x - centers[j]||^2)`` over ``n_centers``.

    Parameters: ``centers`` (n_centers, in_features), ``beta`` (n_centers,) and the output weights
    ``u`` (n_centers, out_features); only ``u`` is regularized. Start the centers from data with
    :meth:`init_from_data`.
    """

    prefix = "rbf"

    def __init__(self, in_features: int, n_centers: int, out_features: int, *, beta: float = 1.0,
                 name: str | None = None) -> None:
        super().__init__(name)
        in_features, n_centers, out_features = check_positive(self, in_features=in_features, n_centers=n_centers,
                                                              out_features=out_features)
        self.in_features, self.n_centers = in_features, n_centers
        self.centers = self.add_parameter("centers", (n_centers, in_features), initializers.normal(1.0),
                                          regularized=False)
        self.beta = self.add_parameter("beta", (n_centers,), initializers.constant(beta), regularized=False)
        self.u = self.add_parameter("u", (n_centers, out_features), initializers.GLOROT_UNIFORM, regularized=True)

    def activations(self, x: Node) -> Node:
        """The basis values ``exp(-beta_j ||x - w_j||^2)``, shape (..., n_centers)."""
        check_features(self, x, self.in_features)
        diff = expand_dims(x, -2) - self.centers
        return exp(-self.beta * ops.sum(diff * diff, axis=-1))

    def forward(self, x: Node, *, training: bool) -> Node:
        return self.activations(x) @ self.u

    def init_from_data(self, data: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
        """Starting values with k-means centers of ``data`` and ``beta_j = 1 / (2 d_j^2)``, where ``d_j`` is
        the distance from center j to its nearest other center. Merge over ``model.init(seed)``."""
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != self.in_features:
            raise ValueError(f"{self!r}: data must have shape (n, {self.in_features}), got {data.shape}")
        centers = kmeans(data, self.n_centers, seed=seed)
        values = self.init(seed) | {self.centers.name: centers}
        if self.n_centers > 1:
            d2 = ((centers[:, None, :] - centers[None]) ** 2).sum(-1)
            np.fill_diagonal(d2, np.inf)
            nearest = np.maximum(d2.min(1), 1e-12)
            values[self.beta.name] = 1.0 / (2.0 * nearest)
        return values
