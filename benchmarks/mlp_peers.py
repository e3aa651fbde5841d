"""One SGD step of a one-hidden-layer MLP in the libraries a user would otherwise pick.

The model: h = tanh(X @ W1 + b1); logits = h @ W2 + b2; loss = mean softmax cross-entropy
against integer labels y; then W -= lr * dloss/dW for W1, b1, W2, b2, in place, float64.

Peers: NumPy with a hand-written backward, PyTorch eager (autograd), JAX jit, PyTensor (its Numba and
C backends). The "BLAS bound" is NumPy doing only the step's matrix products, the floor for any
implementation that calls the same BLAS. Each column of the benchmark is one entry of `COLUMNS`.

Run from the repository root (the env vars force slow OpenBLAS kernels on this machine):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/mlp_peers.py
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from common import OtherLoad, environment_report, pin_threads, table, thread_count, time_calls, usable_cores

PARAMETER_NAMES = ("W1", "b1", "W2", "b2")
# batch, inputs, hidden units, classes
SIZES = {
    "4x2x8x2": (4, 2, 8, 2),  # XOR-sized
    "32x64x32x10": (32, 64, 32, 10),
    "128x784x256x10": (128, 784, 256, 10),  # MNIST-sized
    "1024x1024x1024x10": (1024, 1024, 1024, 10),
}
LEARNING_RATE = 0.1
AGREEMENT_RTOL = 1e-10
StepT = TypeVar("StepT")


@dataclass(frozen=True)
class TrainingStep:
    """A peer's training step on its own copy of the parameters.

    Calling it runs one step and returns the loss computed before the update;
    `parameters()` returns the current W1, b1, W2, b2 as fresh NumPy arrays.
    """

    run: Callable[[], object]
    parameters: Callable[[], dict[str, np.ndarray]]

    def __call__(self) -> object:
        return self.run()


def make_problem(batch: int, n_in: int, n_hidden: int, n_out: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs X (batch, n_in), int64 labels y (batch,), Glorot-uniform weights and zero biases."""
    for name, value in (("batch", batch), ("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
        if value < 1:
            raise ValueError(f"make_problem: {name} must be >= 1, got {value}")
    rng = np.random.default_rng(seed)

    def glorot(fan_in: int, fan_out: int) -> np.ndarray:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=(fan_in, fan_out))

    return {
        "X": rng.standard_normal((batch, n_in)),
        "y": rng.integers(0, n_out, size=batch, dtype=np.int64),
        "W1": glorot(n_in, n_hidden),
        "b1": np.zeros(n_hidden),
        "W2": glorot(n_hidden, n_out),
        "b2": np.zeros(n_out),
    }


def make_numpy_step(problem: dict[str, np.ndarray], lr: float) -> TrainingStep:
    """NumPy forward + hand-written backward + in-place SGD, every buffer preallocated.

    Written for small batches too, where per-call overhead dominates: ufunc methods
    (np.add.reduce) instead of their slower wrappers (np.sum), labels picked through flat
    indices instead of two-array fancy indexing, lr folded into dloss/dlogits.
    """
    X, y = problem["X"], problem["y"]
    W1, b1, W2, b2 = (problem[name].copy() for name in PARAMETER_NAMES)
    batch, n_hidden, n_out = X.shape[0], W1.shape[1], W2.shape[1]
    row_offsets = np.arange(batch) * n_out
    label_index = np.empty(batch, dtype=np.int64)  # flat index of each row's label in a (batch, n_out) array
    h = np.empty((batch, n_hidden))  # pre-activation, then tanh in place (backward only needs tanh)
    dh = np.empty((batch, n_hidden))
    tanh_slope = np.empty((batch, n_hidden))
    logits = np.empty((batch, n_out))
    probs = np.empty((batch, n_out))  # softmax, then turned into lr * dloss/dlogits in place
    logits_flat, probs_flat = logits.reshape(-1), probs.reshape(-1)  # views
    row_stat = np.empty((batch, 1))
    picked = np.empty(batch)
    dW1, db1, dW2, db2 = np.empty_like(W1), np.empty_like(b1), np.empty_like(W2), np.empty_like(b2)  # lr * gradients

    def run() -> float:
        np.matmul(X, W1, out=h)
        np.add(h, b1, out=h)
        np.tanh(h, out=h)
        np.matmul(h, W2, out=logits)
        np.add(logits, b2, out=logits)
        np.maximum.reduce(logits, axis=1, keepdims=True, out=row_stat)
        np.subtract(logits, row_stat, out=logits)  # shifted logits: exp cannot overflow
        np.exp(logits, out=probs)
        np.add.reduce(probs, axis=1, keepdims=True, out=row_stat)
        np.divide(probs, row_stat, out=probs)
        # loss = mean(log(sum exp(shifted)) - shifted[label]): the stable log-softmax form
        np.add(row_offsets, y, out=label_index)
        np.log(row_stat, out=row_stat)
        logits_flat.take(label_index, out=picked)
        loss = float(np.add.reduce(row_stat, axis=None) - np.add.reduce(picked)) / batch
        probs_flat[label_index] -= 1.0
        np.multiply(probs, lr / batch, out=probs)  # lr folded in here: every gradient below is lr * gradient
        np.matmul(h.T, probs, out=dW2)
        np.add.reduce(probs, axis=0, out=db2)
        np.matmul(probs, W2.T, out=dh)
        np.multiply(h, h, out=tanh_slope)
        np.subtract(1.0, tanh_slope, out=tanh_slope)
        np.multiply(dh, tanh_slope, out=dh)
        np.matmul(X.T, dh, out=dW1)
        np.add.reduce(dh, axis=0, out=db1)
        for param, scaled_grad in ((W1, dW1), (b1, db1), (W2, dW2), (b2, db2)):
            param -= scaled_grad
        return loss

    def parameters() -> dict[str, np.ndarray]:
        return {name: value.copy() for name, value in zip(PARAMETER_NAMES, (W1, b1, W2, b2))}

    return TrainingStep(run, parameters)


def make_torch_step(problem: dict[str, np.ndarray], lr: float) -> TrainingStep:
    """PyTorch CPU eager: autograd backward, then an in-place update under torch.no_grad()."""
    import torch
    from torch.nn.functional import cross_entropy

    torch.set_num_threads(thread_count())
    X, y = torch.from_numpy(problem["X"]), torch.from_numpy(problem["y"])
    params = [torch.tensor(problem[name], requires_grad=True) for name in PARAMETER_NAMES]
    W1, b1, W2, b2 = params

    def run() -> float:
        hidden = torch.tanh(torch.addmm(b1, X, W1))
        loss = cross_entropy(torch.addmm(b2, hidden, W2), y)
        for param in params:
            param.grad = None  # backward then writes fresh gradients instead of accumulating
        loss.backward()
        with torch.no_grad():
            for param in params:
                param.sub_(param.grad, alpha=lr)
        return loss.item()

    def parameters() -> dict[str, np.ndarray]:
        return {name: param.detach().numpy().copy() for name, param in zip(PARAMETER_NAMES, params)}

    return TrainingStep(run, parameters)


def make_jax_step(problem: dict[str, np.ndarray], lr: float) -> TrainingStep:
    """JAX: one jitted function returning (loss, updated params), parameter buffers donated."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)  # float64 like the other peers

    def loss_fn(params, X, y):
        W1, b1, W2, b2 = params
        logits = jnp.tanh(X @ W1 + b1) @ W2 + b2
        log_probs = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))

    def train_step(params, X, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, X, y)
        return loss, tuple(param - lr * grad for param, grad in zip(params, grads))

    compiled = jax.jit(train_step, donate_argnums=0)
    X, y = jnp.asarray(problem["X"]), jnp.asarray(problem["y"])
    state = {"params": tuple(jnp.asarray(problem[name]) for name in PARAMETER_NAMES)}

    def run() -> jax.Array:
        loss, state["params"] = compiled(state["params"], X, y)
        return jax.block_until_ready(loss)  # one XLA executable: params are ready when the loss is

    def parameters() -> dict[str, np.ndarray]:
        return {name: np.array(param) for name, param in zip(PARAMETER_NAMES, state["params"])}

    return TrainingStep(run, parameters)


def make_pytensor_step(problem: dict[str, np.ndarray], lr: float, mode: str) -> TrainingStep:
    """PyTensor (Theano's successor): a compiled function with the SGD updates of shared parameters, in ``mode``
    ("NUMBA": its Numba backend; "FAST_RUN": its C backend)."""
    import pytensor
    import pytensor.tensor as pt

    X, y = pt.constant(problem["X"]), pt.constant(problem["y"])
    params = [pytensor.shared(problem[name].copy(), name=name) for name in PARAMETER_NAMES]
    W1, b1, W2, b2 = params
    log_probs = pt.special.log_softmax(pt.tanh(X @ W1 + b1) @ W2 + b2, axis=1)
    loss = -pt.mean(log_probs[pt.arange(y.shape[0]), y])
    updates = [(param, param - lr * grad) for param, grad in zip(params, pytensor.grad(loss, params))]
    step = pytensor.function([], loss, updates=updates, mode=mode)

    def parameters() -> dict[str, np.ndarray]:
        return {name: param.get_value().copy() for name, param in zip(PARAMETER_NAMES, params)}

    return TrainingStep(step, parameters)


def blas_bound_step(problem: dict[str, np.ndarray]) -> Callable[[], None]:
    """Only the step's five matrix products (forward 2, backward 3; no input gradient) into preallocated outputs."""
    X, W1, W2 = problem["X"], problem["W1"].copy(), problem["W2"].copy()
    batch, n_hidden, n_out = X.shape[0], W1.shape[1], W2.shape[1]
    h, dh = np.empty((batch, n_hidden)), np.empty((batch, n_hidden))
    logits = np.empty((batch, n_out))
    dW1, dW2 = np.empty_like(W1), np.empty_like(W2)

    def run() -> None:
        np.matmul(X, W1, out=h)
        np.matmul(h, W2, out=logits)
        np.matmul(h.T, logits, out=dW2)
        np.matmul(logits, W2.T, out=dh)
        np.matmul(X.T, dh, out=dW1)

    return run


PEERS: dict[str, Callable[[dict[str, np.ndarray], float], TrainingStep]] = {
    "numpy": make_numpy_step,
    "torch": make_torch_step,
    "jax": make_jax_step,
    "pytensor numba": lambda problem, lr: make_pytensor_step(problem, lr, "NUMBA"),
    "pytensor C": lambda problem, lr: make_pytensor_step(problem, lr, "FAST_RUN"),
}
# One column of the benchmark table per entry: (problem, lr) -> zero-argument step.
COLUMNS: dict[str, Callable[[dict[str, np.ndarray], float], Callable[[], object]]] = {
    "symdiff": lambda problem, lr: __import__("mlp_symdiff").make_symdiff_step(problem, lr),
    **PEERS,
    "BLAS bound": lambda problem, lr: blas_bound_step(problem),
}
BASELINE = "numpy"


def build_installed(factories: Mapping[str, Callable[..., StepT]], problem: dict[str, np.ndarray], lr: float
                    ) -> dict[str, StepT]:
    """Call every factory on (problem, lr); those whose library is not installed are left out."""
    steps = {}
    for name, make_step in factories.items():
        try:
            steps[name] = make_step(problem, lr)
        except ImportError:
            continue  # library not installed: its column shows '-'
    return steps


def check_peers_agree(sizes: tuple[tuple[int, int, int, int], ...] = ((8, 5, 7, 3), (32, 64, 32, 10)),
                      steps: int = 3) -> None:
    """Run `steps` steps of every installed peer from one init; raise AssertionError unless all
    losses and final parameters match NumPy's to AGREEMENT_RTOL (norm-wise relative)."""
    for size in sizes:
        problem = make_problem(*size, seed=1)
        peers = build_installed(PEERS, problem, LEARNING_RATE)
        losses = {name: [float(step()) for _ in range(steps)] for name, step in peers.items()}
        reference_losses = np.array(losses[BASELINE])
        reference_params = peers[BASELINE].parameters()
        worst = 0.0
        for name, step in peers.items():
            compared = {"losses": (np.array(losses[name]), reference_losses)}
            compared |= {key: (value, reference_params[key]) for key, value in step.parameters().items()}
            for what, (actual, expected) in compared.items():
                error = np.linalg.norm(actual - expected) / np.linalg.norm(expected)
                worst = max(worst, error)
                if not error <= AGREEMENT_RTOL:
                    raise AssertionError(f"peer {name!r} disagrees with {BASELINE!r} on {what} after {steps} steps "
                                         f"at size {size}: relative error {error:.3g} > {AGREEMENT_RTOL}")
        print(f"peers agree at {'x'.join(map(str, size))} after {steps} steps: {', '.join(peers)} "
              f"(worst relative difference {worst:.1e})")


def measure(sizes: dict[str, tuple[int, int, int, int]], *, min_time: float, repeats: int
            ) -> tuple[dict[str, dict[str, float | None]], dict[str, float]]:
    """Seconds per step for every (size, column), None where the column's library is missing;
    and, per size, how many cores other processes kept busy meanwhile (see OtherLoad)."""
    results: dict[str, dict[str, float | None]] = {}
    other_load: dict[str, float] = {}
    for label, size in sizes.items():
        problem = make_problem(*size, seed=0)
        steps = build_installed(COLUMNS, problem, LEARNING_RATE)
        with OtherLoad() as load:
            seconds = time_calls(steps, min_time=min_time, repeats=repeats)
        results[label] = {column: seconds.get(column) for column in COLUMNS}
        other_load[label] = load.cores
    return results, other_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=usable_cores(), help="threads for every library")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timed batch")
    parser.add_argument("--repeats", type=int, default=5, help="timed batches per cell; the best is kept")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES), help="problem sizes to run")
    args = parser.parse_args()
    pin_threads(args.threads)  # before any peer imports its library
    check_peers_agree()
    sizes = {label: SIZES[label] for label in args.sizes}
    results, other_load = measure(sizes, min_time=args.min_time, repeats=args.repeats)
    print(table(results, list(COLUMNS), baseline=BASELINE, title=f"µs per SGD step, {args.threads} thread(s)"))
    for label, cores in other_load.items():
        print(f"while measuring {label}, other processes kept {cores:.2f} of {usable_cores()} cores busy")
    print(environment_report())


if __name__ == "__main__":
    main()
