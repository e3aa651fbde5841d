"""One SGD training step of small CNNs and RNNs: symdiff against PyTorch CPU eager and jax.jit, float64 and
float32, in one run (issue 16 point 6).

Models (loss: mean softmax cross-entropy over 10 classes; update: W -= lr * dloss/dW for every parameter):

- ``cnn8``: LeNet-like on 8x8 digits, batch 32: conv 3x3 "same" 16 -> relu -> 2x2 max pool -> conv 3x3 "same" 32
  -> relu -> 2x2 max pool -> dense 10.
- ``cnn28``: 28x28 inputs, batch 64: conv 3x3 32 -> relu -> pool -> conv 3x3 32 -> relu -> pool -> dense 10.
- ``rnn``: Elman (tanh) with hidden 64 over sequences of length 50 (16 features), batch 32; last state -> dense 10.
- ``lstm``: the same with an LSTM.

``symdiff 1 kernel`` is symdiff's step compiled with ``threads=1``: every call one kernel, where the default splits
a large call over the cores by rows (symdiff/parallel/); the two columns side by side measure that split.

Peers: ``torch`` (nn.functional conv2d/max_pool2d, nn.RNN/nn.LSTM, autograd, in-place SGD; NCHW inside, the
activations put back in NHWC order before the dense layer so every peer computes the same function) and ``jax``
(jit of value_and_grad + update, parameters donated; NHWC convolutions, lax.scan) and ``pytensor numba`` /
``pytensor C`` (PyTensor's scan and grad, SGD as shared-variable updates, in its Numba and C modes) for the
recurrent models: PyTensor has no convolution or pooling layers (only signal-processing ``convolve2d``), so its CNN
cells stay empty. Before timing, every peer's loss and parameters
after two steps are compared with symdiff's (float64, 1e-9 relative).
The arithmetic bound of the CNN rows (``bound``) is the step's convolution and dense products (forward, and the
backward for weights and inputs: 3x the forward multiply-adds) at the BLAS rate NumPy reaches on one (N*OH*OW,
K*K*C_in) x (K*K*C_in, C_out) product of the first layer.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cnn_rnn_peers.py      # torch and jax optional
"""

from __future__ import annotations

import argparse

import numpy as np
from common import OtherLoad, environment_report, pin_threads, table, time_calls, usable_cores

LR = 0.01
CLASSES = 10
#: name -> (kind, batch, input shape per example, layers): conv layers (kernel, out channels, padding).
MODELS = {
    "cnn8": ("cnn", 32, (8, 8, 1), ((3, 16, "same"), (3, 32, "same"))),
    "cnn28": ("cnn", 64, (28, 28, 1), ((3, 32, "valid"), (3, 32, "valid"))),
    "rnn": ("rnn", 32, (50, 16), 64),
    "lstm": ("lstm", 32, (50, 16), 64),
}


def make_problem(name: str, dtype: str, seed: int = 0) -> dict:
    """Inputs, labels and initial parameters (symdiff layouts: NHWC, HWIO kernels, (in, out) matrices)."""
    kind, batch, shape, layers = MODELS[name]
    rng = np.random.default_rng(seed)
    problem = {"X": rng.standard_normal((batch, *shape)).astype(dtype), "y": rng.integers(0, CLASSES, batch),
               "params": []}
    if kind == "cnn":
        size, channels = shape[0], shape[2]
        for kernel, out, padding in layers:
            problem["params"] += [rng.standard_normal((kernel, kernel, channels, out)) / np.sqrt(kernel**2 * channels),
                                  np.zeros(out)]
            size = (size if padding == "same" else size - kernel + 1) // 2
            channels = out
        features = size * size * channels
    else:
        gates = 4 if kind == "lstm" else 1
        hidden, features = layers, layers
        problem["params"] += [rng.standard_normal((shape[1], gates * hidden)) / np.sqrt(shape[1]),
                              rng.standard_normal((hidden, gates * hidden)) / np.sqrt(hidden), np.zeros(gates * hidden)]
    problem["params"] += [rng.standard_normal((features, CLASSES)) / np.sqrt(features), np.zeros(CLASSES)]
    problem["params"] = [p.astype(dtype) for p in problem["params"]]
    return problem


def symdiff_step(name: str, problem: dict, threads: int | None = None):
    import symdiff as sd
    from symdiff import nn

    kind, batch, shape, layers = MODELS[name]
    dtype = problem["X"].dtype.name
    x, y = sd.tensor("x", ("batch", *shape), dtype), sd.tensor("y", ("batch",), "int64")
    if kind == "cnn":
        modules, channels = [], shape[2]
        for k, (kernel, out, padding) in enumerate(layers):
            modules += [nn.Conv2D(channels, out, kernel, padding=padding, activation="relu", dtype=dtype,
                                  name=f"b_{name}_{dtype}_c{k}"), nn.MaxPool2D(2, name=f"b_{name}_{dtype}_p{k}")]
            channels = out
        modules.append(nn.Flatten(name=f"b_{name}_{dtype}_f"))
    else:
        cell = nn.LSTM if kind == "lstm" else nn.SimpleRNN
        modules = [cell(shape[1], layers, dtype=dtype, name=f"b_{name}_{dtype}_r")]
    features = problem["params"][-2].shape[0]
    modules.append(nn.Dense(features, CLASSES, dtype=dtype, name=f"b_{name}_{dtype}_d"))
    model = nn.Sequential(modules, name=f"b_{name}_{dtype}")
    params = list(model.parameters.values())
    loss = nn.softmax_cross_entropy(model(x), y)
    updates = {p: p - LR * g for p, g in zip(params, sd.grad(loss, params))}
    fn = sd.compile([x, y, *params], [loss], updates, threads=threads)
    values = [p.copy() for p in problem["params"]]
    X, Y = problem["X"], problem["y"]
    return (lambda: fn(X, Y, *values)[0]), (lambda: values)


def torch_step(name: str, problem: dict):
    import torch
    from torch.nn import functional

    kind, batch, shape, layers = MODELS[name]
    torch.set_num_threads(usable_cores())
    tensors = [torch.tensor(p) for p in problem["params"]]
    y = torch.from_numpy(problem["y"])
    if kind == "cnn":
        X = torch.from_numpy(problem["X"]).permute(0, 3, 1, 2).contiguous()
        params = []
        for k in range(len(layers)):
            params += [tensors[2 * k].permute(3, 2, 0, 1).contiguous().requires_grad_(),
                       tensors[2 * k + 1].requires_grad_()]
        params += [t.requires_grad_() for t in tensors[-2:]]

        def logits():
            h = X
            for k, (_, _, padding) in enumerate(layers):
                h = functional.conv2d(h, params[2 * k], params[2 * k + 1], padding=padding)
                h = functional.max_pool2d(functional.relu(h), 2)
            return h.permute(0, 2, 3, 1).reshape(batch, -1) @ params[-2] + params[-1]
    else:
        X = torch.from_numpy(problem["X"])
        cell = (torch.nn.LSTM if kind == "lstm" else torch.nn.RNN)(shape[1], layers, batch_first=True,
                                                                    dtype=X.dtype)
        with torch.no_grad():
            cell.weight_ih_l0.copy_(tensors[0].T)
            cell.weight_hh_l0.copy_(tensors[1].T)
            cell.bias_ih_l0.copy_(tensors[2])
            cell.bias_hh_l0.zero_()
        cell.bias_hh_l0.requires_grad_(False)  # symdiff's cells have one bias
        params = [cell.weight_ih_l0, cell.weight_hh_l0, cell.bias_ih_l0] + [t.requires_grad_() for t in tensors[-2:]]

        def logits():
            return cell(X)[0][:, -1] @ params[-2] + params[-1]

    def run():
        loss = functional.cross_entropy(logits(), y)
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(p.grad, alpha=LR)
        return loss.item()

    def values():
        out = [p.detach().numpy() for p in params]
        if kind == "cnn":
            out = [w.transpose(2, 3, 1, 0) if w.ndim == 4 else w for w in out]
        else:
            out[:2] = [out[0].T, out[1].T]
        return out

    return run, values


def jax_step(name: str, problem: dict):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    kind, batch, shape, layers = MODELS[name]

    def logits(params, X):
        if kind == "cnn":
            h = X
            for k, (_, _, padding) in enumerate(layers):
                h = jax.lax.conv_general_dilated(h, params[2 * k], (1, 1), padding.upper(),
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC")) + params[2 * k + 1]
                h = jax.lax.reduce_window(jax.nn.relu(h), -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
            return h.reshape(batch, -1) @ params[-2] + params[-1]
        W, U, b = params[:3]
        hidden = U.shape[0]

        def step(carry, x_t):
            if kind == "lstm":
                h, c = carry
                z = x_t @ W + h @ U + b
                c = jax.nn.sigmoid(z[:, hidden:2 * hidden]) * c + jax.nn.sigmoid(z[:, :hidden]) * jnp.tanh(
                    z[:, 2 * hidden:3 * hidden])
                return (jax.nn.sigmoid(z[:, 3 * hidden:]) * jnp.tanh(c), c), None
            return jnp.tanh(x_t @ W + carry @ U + b), None

        zero = jnp.zeros((batch, hidden), X.dtype)
        final, _ = jax.lax.scan(step, (zero, zero) if kind == "lstm" else zero, jnp.swapaxes(X, 0, 1))
        return (final[0] if kind == "lstm" else final) @ params[-2] + params[-1]

    def loss_fn(params, X, y):
        log_probs = jax.nn.log_softmax(logits(params, X))
        return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))

    def train_step(params, X, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, X, y)
        return loss, tuple(p - LR * g for p, g in zip(params, grads))

    compiled = jax.jit(train_step, donate_argnums=0)
    X, y = jnp.asarray(problem["X"]), jnp.asarray(problem["y"])
    state = {"params": tuple(jnp.asarray(p) for p in problem["params"])}

    def run():
        loss, state["params"] = compiled(state["params"], X, y)
        return jax.block_until_ready(loss)

    return run, (lambda: [np.array(p) for p in state["params"]])


def pytensor_step(name: str, problem: dict, mode: str):
    """PyTensor (Theano's successor) where it has the ops: its ``scan`` for the recurrent models (it has no
    convolution or pooling layers, only signal-processing ``convolve2d``: None for the CNNs). ``mode``: "NUMBA" (its
    Numba backend) or "FAST_RUN" (its C backend)."""
    import pytensor
    import pytensor.tensor as pt

    kind, batch, shape, layers = MODELS[name]
    if kind == "cnn":
        return None
    X, y = pt.constant(problem["X"]), pt.constant(problem["y"])
    params = [pytensor.shared(p.copy()) for p in problem["params"]]
    W, U, b = params[:3]
    hidden = layers
    projected = pt.swapaxes(X, 0, 1) @ W + b  # (T, N, gates*hidden): one product for all steps
    zero = pt.zeros((batch, hidden), dtype=problem["X"].dtype)
    if kind == "lstm":
        def step(z_t, h, c):
            z = z_t + h @ U
            gate = [z[:, k * hidden:(k + 1) * hidden] for k in range(4)]  # input, forget, cell, output
            c = pt.sigmoid(gate[1]) * c + pt.sigmoid(gate[0]) * pt.tanh(gate[2])
            return pt.sigmoid(gate[3]) * pt.tanh(c), c

        states, _ = pytensor.scan(step, sequences=[projected], outputs_info=[zero, zero], return_updates=False)
    else:
        states = pytensor.scan(lambda z_t, h: pt.tanh(z_t + h @ U), sequences=[projected], outputs_info=[zero],
                               return_updates=False)
    log_probs = pt.special.log_softmax(states[-1] @ params[-2] + params[-1], axis=1)
    loss = -pt.mean(log_probs[pt.arange(batch), y])
    lr = pt.constant(LR, dtype=problem["X"].dtype)  # a float64 rate would promote float32 parameters
    updates = [(p, p - lr * g) for p, g in zip(params, pytensor.grad(loss, params))]
    run = pytensor.function([], loss, updates=updates, mode=mode)
    return run, (lambda: [p.get_value().copy() for p in params])


PEERS = {"symdiff": symdiff_step, "torch": torch_step, "jax": jax_step,
         "pytensor numba": lambda name, problem: pytensor_step(name, problem, "NUMBA"),
         "pytensor C": lambda name, problem: pytensor_step(name, problem, "FAST_RUN"),
         "symdiff 1 kernel": lambda name, problem: symdiff_step(name, problem, threads=1)}


def installed(name: str, problem: dict) -> dict:
    steps = {}
    for peer, make in PEERS.items():
        try:
            step = make(name, problem)
        except ImportError:
            continue
        if step is not None:  # None: the peer has no such layers
            steps[peer] = step
    return steps


def check_agreement(name: str) -> None:
    """Two steps of every installed peer from one start (float64): losses and parameters agree with symdiff's."""
    steps = installed(name, make_problem(name, "float64", seed=1))
    reference = None
    for peer, (run, values) in steps.items():
        losses = [float(run()) for _ in range(2)]
        result = np.concatenate([losses] + [np.ravel(v) for v in values()])
        if reference is None:
            reference = result
        error = np.linalg.norm(result - reference) / np.linalg.norm(reference)
        if not error <= 1e-9:
            raise AssertionError(f"{name}: {peer} disagrees with symdiff after two steps (relative {error:.2g})")
    print(f"{name}: {', '.join(steps)} agree after two steps")


def conv_bound(name: str, dtype: str) -> float | None:
    """Seconds for the step's products at the BLAS rate of the first layer's im2col product (CNN rows only)."""
    kind, batch, shape, layers = MODELS[name]
    if kind != "cnn":
        return None
    size, channels, flops = shape[0], shape[2], 0
    for kernel, out, padding in layers:
        conv = size if padding == "same" else size - kernel + 1
        flops += 2 * batch * conv * conv * kernel * kernel * channels * out
        size, channels = conv // 2, out
    flops = 3 * (flops + 2 * batch * size * size * channels * CLASSES)
    kernel, out, padding = layers[0]
    rows = batch * shape[0] * shape[1]
    a = np.ones((rows, max(kernel * kernel * shape[2], 9 * 16)), dtype)
    b = np.ones((a.shape[1], out), dtype)
    c = np.empty((rows, out), dtype)
    seconds = time_calls({"gemm": lambda: np.matmul(a, b, out=c)}, min_time=0.1, repeats=3)["gemm"]
    return flops / (2 * rows * a.shape[1] * out / seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=usable_cores())
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    args = parser.parse_args()
    pin_threads(args.threads)
    for name in args.models:
        check_agreement(name)
    results, loads = {}, {}
    for dtype in ("float64", "float32"):
        for name in args.models:
            steps = installed(name, make_problem(name, dtype))
            with OtherLoad() as load:
                seconds = time_calls({peer: run for peer, (run, _) in steps.items()}, min_time=args.min_time,
                                     repeats=args.repeats)
            label = f"{name} {dtype}"
            results[label] = {peer: seconds.get(peer) for peer in PEERS} | {"bound": conv_bound(name, dtype)}
            loads[label] = load.cores
    print(table(results, list(PEERS) + ["bound"], baseline="symdiff",
                title=f"µs per SGD step, {args.threads} thread(s)"))
    for label, cores in loads.items():
        print(f"while measuring {label}, other processes kept {cores:.2f} of {usable_cores()} cores busy")
    print(environment_report())


if __name__ == "__main__":
    main()
