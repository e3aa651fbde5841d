"""Linear regression on y = 0.1 x + 0.3: gradient descent recovers W ~ 0.1 and b ~ 0.3.

    python examples/linear_regression.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

import symdiff as sd
from symdiff.train import SGD, load_dataset


def main(quick: bool = False) -> dict:
    data = load_dataset("line", n=100)                     # y = 0.1 x + 0.3, x uniform in [0, 1)
    x = sd.tensor("x", ("batch", 1))
    y = sd.tensor("y", ("batch", 1))
    W, b = sd.tensor("W", (1,)), sd.tensor("b", (1,))
    loss = sd.mean((x * W + b - y) ** 2)
    start = {"W": np.random.default_rng(0).uniform(-1, 1, size=1), "b": np.zeros(1)}
    step = SGD(lr=0.5).compile_step([x, y], loss, [W, b], values=start)
    for k in range(101 if quick else 201):
        value = step(data.X_train, data.y_train)
        if k % 20 == 0:
            print(f"step {k:3d}: loss {value:.2e}  W {step.params['W'][0]:.4f}  b {step.params['b'][0]:.4f}")
    return {"W": float(step.params["W"][0]), "b": float(step.params["b"][0])}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 steps instead of 200")
    main(parser.parse_args().quick)
