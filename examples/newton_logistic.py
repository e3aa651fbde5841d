"""Newton's method on an L2-regularized logistic regression: gradient and Hessian as graphs, one kernel.

20 parameters (19 features + a bias column); cost = mean(softplus(z) - y z) + (lambda / 2) ||w||^2 with
z = X w. ``sd.grad`` and ``sd.hessian`` derive both as graphs, ``sd.compile`` turns cost, gradient and
Hessian into one kernel, and each iteration solves H d = g with NumPy: w <- w - d. Near the optimum
the gradient norm is squared at every step (quadratic convergence: the correct digits double).

    python examples/newton_logistic.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import symdiff as sd

FEATURES = 19           # plus a bias column: 20 parameters
L2 = 1e-2               # keeps the Hessian positive definite even if the data were separable
TOLERANCE = 1e-12       # stop once the gradient norm is below this
MAX_ITERATIONS = 10
ROUNDING_FLOOR = 1e-14  # gradient norms below this are rounding noise, not convergence


def logistic_graphs() -> tuple[list[sd.Node], list[sd.Node]]:
    """``([x, y, w], [cost, gradient, Hessian])``: the data has a named number of rows, ``w`` 20 entries."""
    x = sd.tensor("x", ("n", FEATURES + 1))
    y = sd.tensor("y", ("n",))
    w = sd.tensor("w", (FEATURES + 1,))
    z = x @ w
    # softplus(z) - y z is the cross-entropy -y log p - (1 - y) log(1 - p) with p = sigmoid(z), finite for any z
    cost = sd.mean(sd.softplus(z) - y * z) + (L2 / 2) * sd.sum(w * w)
    return [x, y, w], [cost, sd.grad(cost, w), sd.hessian(cost, w)]


def compile_newton() -> sd.CompiledFunction:
    """``fn(X, Y, w) -> (cost, gradient, Hessian)`` as one kernel, for any number of rows."""
    inputs, outputs = logistic_graphs()
    return sd.compile(inputs, outputs, name="newton_terms")


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[features, 1]`` and 0/1 labels from a noisy linear teacher (separable-ish: ~10% overlap)."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, FEATURES))
    teacher = rng.normal(size=FEATURES)
    logits = features @ teacher + 0.5 + rng.normal(scale=1.0, size=n)
    return np.hstack([features, np.ones((n, 1))]), (logits > 0).astype(np.float64)


def newton(terms: sd.CompiledFunction, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Newton iterations from w = 0; returns the final ``w`` and the gradient norm before every step and at the end."""
    w = np.zeros(FEATURES + 1)
    norms = []
    for _ in range(MAX_ITERATIONS + 1):
        cost, gradient, hessian = terms(X, Y, w)
        norms.append(float(np.linalg.norm(gradient)))
        print(f"  iteration {len(norms) - 1:2d}: cost {cost:.15f}  |gradient| {norms[-1]:.3e}")
        if norms[-1] < TOLERANCE or len(norms) > MAX_ITERATIONS:
            break
        w = w - np.linalg.solve(hessian, gradient)
    return w, norms


def convergence_orders(norms: list[float], start_below: float = 1e-2) -> list[float]:
    """Estimated orders of convergence log(e[k+1]/e[k]) / log(e[k]/e[k-1]) of the gradient norms e.

    2 for quadratic convergence, 1 for linear, whatever the constant in e[k+1] ~ C e[k]^p. Only
    triples that start below ``start_below`` (where the quadratic regime holds) and end above the
    rounding floor count.
    """
    return [float(np.log(c / b) / np.log(b / a)) for a, b, c in zip(norms, norms[1:], norms[2:])
            if a < start_below and c > ROUNDING_FLOOR]


def main(quick: bool = False) -> list[float]:
    """Run Newton's method (200 rows with ``quick``, else 2,000); returns the gradient norms per iteration."""
    n = 200 if quick else 2000
    X, Y = make_data(n)
    start = time.perf_counter()
    terms = compile_newton()
    print(f"cost, gradient and {FEATURES + 1}x{FEATURES + 1} Hessian compiled into one kernel "
          f"in {time.perf_counter() - start:.1f} s; Newton's method on {n} rows:")
    w, norms = newton(terms, X, Y)
    accuracy = np.mean((X @ w > 0) == (Y > 0.5))
    orders = ", ".join(f"{order:.2f}" for order in convergence_orders(norms))
    print(f"{len(norms) - 1} Newton steps; estimated orders of convergence {orders} (2 = quadratic); "
          f"training accuracy {accuracy:.3f}")
    return norms


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 rows instead of 2,000")
    main(parser.parse_args().quick)
