"""Logistic regression as in the classic Theano tutorial, timed against the same loop in NumPy.

N = 400 examples with 784 random features and random 0/1 labels; cost = mean cross-entropy
+ 0.01 * ||w||^2; 10,000 full-batch gradient steps with learning rate 0.1.

    python examples/logistic_regression.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import symdiff as sd

N, FEATURES, LEARNING_RATE = 400, 784, 0.1


def symdiff_training(X: np.ndarray, Y: np.ndarray, w0: np.ndarray, steps: int):
    x = sd.tensor("x", ("N", FEATURES))
    y = sd.tensor("y", ("N",))
    w = sd.tensor("w", (FEATURES,))
    b = sd.tensor("b", (1,))  # a 1-element array (the code generator updates arrays in place)
    z = x @ w + b
    p_1 = sd.sigmoid(z)                                       # probability that the target is 1
    # -y log(p_1) - (1 - y) log(1 - p_1), written as softplus(z) - y z: the same value, but finite when p_1
    # rounds to 0 or 1 (random 784-feature inputs give |z| ~ 30). Theano's optimizer did this rewrite.
    xent = sd.softplus(z) - y * z
    cost = sd.mean(xent) + 0.01 * sd.sum(w ** 2)              # the cost to minimize
    gw, gb = sd.grad(cost, [w, b])
    start = time.perf_counter()
    train = sd.compile([x, y, w, b], cost, updates={w: w - LEARNING_RATE * gw, b: b - LEARNING_RATE * gb},
                       name="train")
    compile_seconds = time.perf_counter() - start
    predict = p_1 > 0.5
    w_value, b_value = w0.copy(), np.zeros(1)
    start = time.perf_counter()
    for _ in range(steps):
        train(X, Y, w_value, b_value)
    seconds = time.perf_counter() - start
    predictions = sd.evaluate(predict, {x: X, w: w_value, b: b_value})
    return w_value, b_value, predictions, seconds, compile_seconds


def numpy_training(X: np.ndarray, Y: np.ndarray, w0: np.ndarray, steps: int):
    w, b = w0.copy(), np.zeros(1)
    start = time.perf_counter()
    for _ in range(steps):
        p_1 = 1 / (1 + np.exp(-(X @ w) - b))
        gz = (p_1 - Y) / len(X)           # d mean(xent) / dz
        gw = X.T @ gz + 0.02 * w
        gb = gz.sum(keepdims=True)
        w -= LEARNING_RATE * gw
        b -= LEARNING_RATE * gb
    return w, b, time.perf_counter() - start


def main(quick: bool = False) -> dict:
    steps = 200 if quick else 10_000
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(N, FEATURES)), rng.integers(0, 2, size=N).astype(np.float64)
    w0 = rng.normal(size=FEATURES)
    w, b, predictions, seconds, compile_seconds = symdiff_training(X, Y, w0, steps)
    w_np, b_np, np_seconds = numpy_training(X, Y, w0, steps)
    accuracy = float(np.mean(predictions == Y))
    difference = float(np.max(np.abs(w - w_np)))
    print(f"{steps} steps: symdiff {seconds:.2f} s (plus {compile_seconds:.1f} s to compile), NumPy {np_seconds:.2f} s "
          f"({np_seconds / seconds:.1f}x)")
    print(f"training accuracy {accuracy:.3f}; largest difference from the NumPy weights {difference:.2e}")
    return {"seconds": seconds, "numpy_seconds": np_seconds, "accuracy": accuracy, "difference": difference}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 steps instead of 10,000")
    main(parser.parse_args().quick)
