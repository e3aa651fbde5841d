"""Cost of a Hessian-vector product against a gradient, both compiled, for a tanh MLP loss (float64).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/hvp_cost.py
        [--batch 64] [--layers 64 32 32 10] [--threads N] [--min-time 0.2] [--repeats 5]

The model is an MLP with tanh hidden layers (default 64 inputs -> 32 -> 32 -> 10 classes, batch 64) and
mean softmax cross-entropy. Two kernels are compiled:

* gradient: ``loss`` and ``sd.grad(loss, params)``;
* HVP: ``sd.jvp(sd.grad(loss, params), params, v)``, the Hessian applied to one direction per
  parameter tensor, forward over reverse, the Hessian never formed. This is what ``sd.hvp`` builds
  for a single tensor; written out here because the parameters are several tensors.

Both are timed as the best of ``--repeats`` batches (µs per call) with a hand-written NumPy gradient for
reference; the issue's target is HVP <= ~4x gradient. Before timing, the compiled HVP is checked against
central differences of the compiled gradient.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import environment_report, format_seconds, pin_threads, time_calls, usable_cores

import symdiff as sd
from symdiff import nn


def mlp_loss(layers: list[int]) -> tuple[sd.Node, sd.Node, nn.Module, sd.Node]:
    """``(x, y, model, loss)``: tanh hidden layers, mean softmax cross-entropy over integer labels."""
    x = sd.tensor("x", ("batch", layers[0]))
    y = sd.tensor("y", ("batch",), "int64")
    dense = [nn.Dense(n_in, n_out, "tanh" if i < len(layers) - 2 else None, name=f"hvp_dense{i + 1}")
             for i, (n_in, n_out) in enumerate(zip(layers, layers[1:]))]
    model = nn.Sequential(dense)
    return x, y, model, nn.softmax_cross_entropy(model(x), y)


def numpy_gradient(X: np.ndarray, Y: np.ndarray, weights: list[np.ndarray]) -> list[np.ndarray]:
    """Loss gradient by hand (forward, then backward through softmax and tanh layers); ``weights`` = [W1, b1, ...]."""
    activations = [X]
    for W, b in zip(weights[0:-2:2], weights[1:-2:2]):
        activations.append(np.tanh(activations[-1] @ W + b))
    logits = activations[-1] @ weights[-2] + weights[-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    delta = p / p.sum(axis=1, keepdims=True)
    delta[np.arange(len(Y)), Y] -= 1.0
    delta /= len(Y)
    grads = []
    for layer in range(len(weights) // 2 - 1, -1, -1):
        grads[:0] = [activations[layer].T @ delta, delta.sum(axis=0)]
        if layer:
            delta = (delta @ weights[2 * layer].T) * (1.0 - activations[layer] ** 2)
    return grads


def check_hvp(gradient: sd.CompiledFunction, hvp: sd.CompiledFunction, data: list, weights: list,
              directions: list, eps: float = 1e-5) -> float:
    """Largest relative difference between the compiled HVP and central differences of the compiled gradient."""
    def grads_at(sign: float) -> list[np.ndarray]:
        return gradient(*data, *[w + sign * eps * v for w, v in zip(weights, directions)])[1:]

    numeric = [(up - down) / (2 * eps) for up, down in zip(grads_at(1.0), grads_at(-1.0))]
    exact = hvp(*data, *weights, *directions)
    return max(float(np.max(np.abs(e - n)) / np.max(np.abs(n))) for e, n in zip(exact, numeric))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--layers", type=int, nargs="+", default=[64, 32, 32, 10])
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=usable_cores(),
                        help="BLAS threads (1 is steadier when other processes share the cores)")
    args = parser.parse_args()
    pin_threads(args.threads)

    x, y, model, loss = mlp_loss(args.layers)
    params = list(model.parameters.values())
    directions = [sd.tensor(f"v_{p.name}", p.shape) for p in params]
    grads = sd.grad(loss, params)
    gradient = sd.compile([x, y, *params], [loss, *grads], name="loss_and_gradient")
    hvp = sd.compile([x, y, *params, *directions], sd.jvp(grads, params, directions), name="hvp")

    rng = np.random.default_rng(0)
    data = [rng.normal(size=(args.batch, args.layers[0])), rng.integers(0, args.layers[-1], size=args.batch)]
    weights = list(model.init(seed=0).values())
    vectors = [rng.normal(size=w.shape) for w in weights]
    hand = numpy_gradient(*data, weights)
    compiled = gradient(*data, *weights)[1:]
    grad_error = max(float(np.max(np.abs(c - h))) for c, h in zip(compiled, hand))
    print(f"checks: compiled gradient vs NumPy by hand, max abs difference {grad_error:.1e}; "
          f"HVP vs central differences of the gradient, max relative difference "
          f"{check_hvp(gradient, hvp, data, weights, vectors):.1e}")

    seconds = time_calls({
        "gradient": lambda: gradient(*data, *weights),
        "hvp": lambda: hvp(*data, *weights, *vectors),
        "numpy gradient": lambda: numpy_gradient(*data, weights),
    }, min_time=args.min_time, repeats=args.repeats)
    shape = "x".join(map(str, args.layers))
    print(f"\nMLP {shape} (tanh, float64), batch {args.batch}, {sum(w.size for w in weights)} parameters; "
          f"nodes after simplify: gradient graph {sd.count_nodes(gradient.outputs)}, HVP graph "
          f"{sd.count_nodes(hvp.outputs)}")
    for name, value in seconds.items():
        print(f"  {name:<15} {format_seconds(value):>8} µs/call")
    print(f"  HVP / gradient: {seconds['hvp'] / seconds['gradient']:.2f}x (target <= ~4x); "
          f"compiled gradient / NumPy gradient: {seconds['gradient'] / seconds['numpy gradient']:.2f}x\n")
    print(environment_report())


if __name__ == "__main__":
    main()
