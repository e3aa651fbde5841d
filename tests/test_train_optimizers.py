"""Optimizers: each update rule against an independent NumPy implementation over several steps, in the
reference evaluator (every optimizer) and in one compiled kernel holding all of them; hyperparameter checks."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from symdiff.train import SGD, Adagrad, Adam, RMSprop
from symdiff.train.optimizers import HyperparameterError, get_optimizer

STEPS = 5
LR = 0.05


class NumpyOptimizer:
    """Textbook update rules over dicts of arrays (PyTorch's coupled weight decay; Keras' momentum form)."""

    def __init__(self, kind, lr, weight_decay=0.0, **h):
        self.kind, self.lr, self.wd, self.h, self.state, self.t = kind, lr, weight_decay, h, {}, 0

    def step(self, params, grads, decayed):
        self.t += 1
        for name, p in params.items():
            g = grads[name] + (self.wd * p if name in decayed else 0.0)
            s = self.state.setdefault(name, {})
            if self.kind == "sgd":
                mu = self.h.get("momentum", 0.0)
                if not mu:
                    params[name] = p - self.lr * g
                    continue
                v = s["v"] = mu * s.get("v", 0.0) - self.lr * g
                params[name] = p + mu * v - self.lr * g if self.h.get("nesterov") else p + v
            elif self.kind == "adagrad":
                a = s["a"] = s.get("a", self.h.get("initial_accumulator", 0.0)) + g * g
                params[name] = p - self.lr * g / (np.sqrt(a) + self.h.get("eps", 1e-8))
            elif self.kind == "rmsprop":
                rho = self.h.get("rho", 0.9)
                a = s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g * g
                params[name] = p - self.lr * g / (np.sqrt(a) + 1e-8)
            elif self.kind == "adam":
                b1, b2 = self.h.get("beta1", 0.9), self.h.get("beta2", 0.999)
                m = s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
                v = s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
                m_hat, v_hat = m / (1 - b1 ** self.t), v / (1 - b2 ** self.t)
                params[name] = p - self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


CASES = {
    "sgd": (lambda: SGD(LR), ("sgd", {})),
    "momentum": (lambda: SGD(LR, momentum=0.9), ("sgd", {"momentum": 0.9})),
    "nesterov": (lambda: SGD(LR, momentum=0.8, nesterov=True), ("sgd", {"momentum": 0.8, "nesterov": True})),
    "adagrad": (lambda: Adagrad(LR, initial_accumulator=0.1), ("adagrad", {"initial_accumulator": 0.1})),
    "rmsprop": (lambda: RMSprop(LR, rho=0.8), ("rmsprop", {"rho": 0.8})),
    "adam": (lambda: Adam(LR, beta1=0.8), ("adam", {"beta1": 0.8})),
    "adam_decay": (lambda: Adam(LR, weight_decay=0.1), ("adam", {"weight_decay": 0.1})),
    "sgd_decay": (lambda: SGD(LR, momentum=0.5, weight_decay=0.2), ("sgd", {"momentum": 0.5, "weight_decay": 0.2})),
}


def _problem(prefix):
    """Two parameters of different shapes (a weight and a bias, which weight decay skips) and a loss."""
    W = nn.parameter(f"{prefix}_W", (2, 3), "glorot_uniform", regularized=True)
    b = nn.parameter(f"{prefix}_b", (3,), "zeros", regularized=False)
    A = np.arange(1.0, 7.0).reshape(2, 3)
    loss = 0.5 * sd.sum(A * W * W) + sd.sum(sd.sin(W)) + sd.sum((b - 1.0) ** 2)
    numpy_grads = lambda v: {W.name: A * v[W.name] + np.cos(v[W.name]), b.name: 2 * (v[b.name] - 1.0)}
    return [W, b], loss, numpy_grads


def _starts(params):
    rng = np.random.default_rng(3)
    return {p.name: rng.normal(size=p.shape) for p in params}


def _numpy_run(case, params, numpy_grads):
    kind, options = CASES[case][1]
    reference = NumpyOptimizer(kind, LR, **options)
    values = _starts(params)
    history = []
    for _ in range(STEPS):
        reference.step(values, numpy_grads(values), decayed={params[0].name})
        history.append({k: v.copy() for k, v in values.items()})
    return history


@pytest.mark.parametrize("case", list(CASES))
def test_update_rule_matches_numpy_in_the_reference_evaluator(case):
    params, loss, numpy_grads = _problem(f"ref_{case}")
    optimizer = CASES[case][0]()
    updates, state = optimizer.updates(params, sd.grad(loss, params))
    values = _starts(params) | optimizer.initial_state(params) | {"lr": LR}
    for want in _numpy_run(case, params, numpy_grads):
        new = sd.evaluate(list(updates.values()), values)
        values |= {target.name: value for target, value in zip(updates, new)}
        for p in params:
            np.testing.assert_allclose(values[p.name], want[p.name], rtol=1e-12, atol=1e-14)
    if optimizer.counter:
        assert values[optimizer.counter].tolist() == [STEPS]


@pytest.fixture(scope="module")
def all_in_one_kernel():
    """Every optimizer case on its own pair of parameters, compiled into one kernel."""
    problems, updates, inputs, loss = {}, {}, [], 0.0
    for case in CASES:
        params, case_loss, numpy_grads = _problem(f"k_{case}")
        optimizer = CASES[case][0]()
        if optimizer.counter:  # one step counter per kernel: each Adam case gets its own name
            optimizer.counter = f"{case}_t"
        case_updates, state = optimizer.updates(params, sd.grad(case_loss, params))
        problems[case] = (params, numpy_grads, optimizer)
        updates |= case_updates
        inputs += params + state
        loss = loss + case_loss
    fn = sd.compile(inputs + [sd.train.learning_rate()], loss, updates, name="all_optimizers")
    return fn, problems


def test_every_optimizer_compiled_in_one_kernel_matches_numpy(all_in_one_kernel):
    fn, problems = all_in_one_kernel
    arrays = {}
    for params, _, optimizer in problems.values():
        arrays |= _starts(params) | optimizer.initial_state(params)
    args = [arrays[n.name] for n in fn.inputs[:-1]]
    wants = {case: _numpy_run(case, params, grads) for case, (params, grads, _) in problems.items()}
    for k in range(STEPS):
        fn(*args, LR)
        for case, (params, _, _) in problems.items():
            for p in params:
                np.testing.assert_allclose(arrays[p.name], wants[case][k][p.name], rtol=1e-11, atol=1e-13,
                                           err_msg=f"{case} step {k + 1}")


def test_state_tensors_are_named_after_their_parameters():
    params, _, _ = _problem("names")
    assert [n.name for n in Adam().state_tensors(params)] == ["names_W_m", "names_W_v", "names_b_m", "names_b_v",
                                                              "adam_t"]
    assert SGD(0.1).state_tensors(params) == []
    assert Adagrad(initial_accumulator=0.5).initial_state(params)["names_b_accumulator"].tolist() == [0.5] * 3


@pytest.mark.parametrize("make, name", [
    (lambda: SGD(0.1, momentum=1.0), "momentum"),
    (lambda: SGD(0.1, nesterov=True), "nesterov"),
    (lambda: Adam(-1.0), "lr"),
    (lambda: RMSprop(rho=1.5), "rho"),
    (lambda: Adam(beta2=1.0), "beta2"),
    (lambda: Adagrad(eps=-1.0), "eps"),
])
def test_bad_hyperparameters_name_the_setting(make, name):
    with pytest.raises(HyperparameterError, match=name) as info:
        make()
    assert info.value.name == name


def test_optimizers_by_name():
    assert repr(get_optimizer("sgd", {"lr": 0.1, "momentum": 0.9})) == \
        "SGD(lr=0.1, weight_decay=0.0, momentum=0.9, nesterov=False)"
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'.*sgd, adagrad, rmsprop, adam"):
        get_optimizer("adamw")
    with pytest.raises(TypeError, match="lr must be a number"):
        SGD("fast")
