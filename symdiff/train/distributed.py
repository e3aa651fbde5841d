"""Training over a dataset held as ``dask.array`` s (issue 17 point 3): full-batch optimization through
``scipy.optimize.minimize`` and synchronous data-parallel mini-batch steps, with the same code on a laptop's
LocalCluster and on a cluster (whatever ``dask.distributed.Client`` is active).

The loss is a *mean over the batch* (its gradient too): each chunk of rows computes its mean and gradient on a
worker (``symdiff.distributed.map_reduce``), the driver combines them weighted by rows, which equals the
single-process value to rounding, and applies the update. A parameter-only term (a weight penalty) is added once,
in the driver. Dask is optional: ``pip install -e ".[distributed]"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autodiff import grad as gradients
from ..compile import compile as compile_graph
from ..distributed import map_reduce, require_dask
from ..ir import Node, inputs_of
from ..ops import tensor
from .optimizers import Optimizer, learning_rate, trainable


@dataclass
class DistributedResult:
    """What a distributed fit returns: the final parameter ``values`` by name, the ``losses`` (per evaluation for
    ``minimize``, per step for ``fit_data_parallel``), and for ``minimize`` scipy's ``OptimizeResult``."""

    values: dict[str, np.ndarray]
    losses: list[float] = field(default_factory=list)
    scipy_result: Any = None


class _Objective:
    """The mean loss and its gradient over the chunked data, plus a parameter-only penalty, as flat vectors."""

    def __init__(self, loss: Node, params: Sequence[Node], data: Mapping[Node, Any], penalty: Node | None,
                 compile_options: dict) -> None:
        _, da = require_dask()
        self.params = list(params)
        self.data_nodes = list(data)
        for node, array in data.items():
            if not isinstance(array, da.Array):
                raise TypeError(f"data for {node.name!r} must be a dask.array chunked along its rows, got "
                                f"{type(array).__name__}")
        missing = [n.name for n in inputs_of(loss) if all(n is not k for k in self.data_nodes + self.params)]
        if missing:
            raise ValueError(f"the loss reads {missing}, which are neither data nor parameters")
        self.data = [data[n] for n in self.data_nodes]
        self.fn = compile_graph(self.data_nodes + self.params, [loss, *gradients(loss, self.params)],
                                **compile_options)
        self.penalty = None if penalty is None else compile_graph(
            self.params, [penalty, *gradients(penalty, self.params)], **compile_options)

    def __call__(self, values: list[np.ndarray], data: list[Any] | None = None) -> tuple[float, list[np.ndarray]]:
        """The loss and gradients at ``values`` over ``data`` (default: all the rows)."""
        loss, *grads = map_reduce(self.fn, (self.data if data is None else data) + values, "mean")
        loss, grads = float(loss), [np.asarray(g) for g in grads]
        if self.penalty is not None:
            extra, *extra_grads = self.penalty(*values)
            loss, grads = loss + float(extra), [g + e for g, e in zip(grads, extra_grads)]
        return loss, grads


def minimize(loss: Node, params: Sequence[Node], data: Mapping[Node, Any], values: Mapping[str, Any], *,
             penalty: Node | None = None, method: str = "L-BFGS-B", max_iter: int = 100, tol: float | None = None,
             **compile_options: Any) -> DistributedResult:
    """Full-batch optimization of ``mean loss over the data + penalty`` with ``scipy.optimize.minimize``
    (``method``: any gradient method, "L-BFGS-B" by default, "CG", "BFGS", ...): every evaluation of the loss and
    its gradient runs over all chunks of ``data`` (input tensor -> ``dask.array``) on the active Dask scheduler.
    ``values`` are the starting parameter values by name."""
    from scipy.optimize import minimize as scipy_minimize

    objective = _Objective(loss, params, data, penalty, compile_options)
    shapes = [p.shape for p in objective.params]
    sizes = [int(np.prod(s)) for s in shapes]
    losses: list[float] = []

    def unflatten(theta: np.ndarray) -> list[np.ndarray]:
        parts = np.split(theta, np.cumsum(sizes)[:-1])
        return [part.reshape(shape).astype(p.dtype) for part, shape, p in zip(parts, shapes, objective.params)]

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grads = objective(unflatten(theta))
        losses.append(value)
        return value, np.concatenate([g.ravel() for g in grads]).astype(np.float64)

    start = np.concatenate([np.asarray(values[p.name], dtype=np.float64).ravel() for p in objective.params])
    result = scipy_minimize(fun, start, jac=True, method=method, tol=tol, options={"maxiter": max_iter})
    final = dict(zip((p.name for p in objective.params), unflatten(result.x)))
    return DistributedResult(final, losses, result)


def _update_kernel(optimizer: Optimizer, params: list[Node], compile_options: dict) -> tuple[Any, list[Node]]:
    """A kernel ``(*params, *gradients, *state, lr)`` applying one ``optimizer`` step in place, and the state
    tensors in its argument order."""
    grads = [tensor(f"{p.name}_gradient", p.shape, p.dtype) for p in params]
    updates, state = optimizer.updates(params, grads)
    return compile_graph([*params, *grads, *state, learning_rate()], [], updates, **compile_options), state


def fit_data_parallel(loss: Node, params: Sequence[Node], data: Mapping[Node, Any], values: Mapping[str, Any],
                      optimizer: Optimizer, *, batch_size: int, epochs: int = 1, penalty: Node | None = None,
                      order: Sequence[int] | None = None, **compile_options: Any) -> DistributedResult:
    """Synchronous data-parallel training: the rows of ``data`` in mini-batches of ``batch_size`` (batch ``k``
    holds rows ``k*batch_size`` onwards; ``order`` permutes the batches of every epoch), each batch's mean loss and
    gradient computed chunk by chunk on the workers, then one ``optimizer`` update in the driver. The same
    batches through ``optimizer.compile_step`` in one process give the same parameters to rounding."""
    objective = _Objective(loss, params, data, penalty, compile_options)
    apply, _ = _update_kernel(optimizer, objective.params, compile_options)
    current = [np.array(values[p.name], dtype=p.dtype, order="C", copy=True) for p in objective.params]
    slots = [array.copy() for array in optimizer.initial_state(objective.params).values()]
    rows = objective.data[0].shape[0]
    batches = -(-rows // batch_size)
    losses = []
    for _ in range(epochs):
        for k in (range(batches) if order is None else order):
            window = slice(k * batch_size, min(rows, (k + 1) * batch_size))
            value, gradient = objective(current, [array[window] for array in objective.data])
            apply(*current, *gradient, *slots, optimizer.lr)
            losses.append(value)
    return DistributedResult(dict(zip((p.name for p in objective.params), current)), losses)


class DataParallelStep:
    """A :class:`~symdiff.train.step.TrainStep` whose gradient the Dask workers compute: each call splits the
    mini-batch into one chunk per worker, combines the chunks' mean loss and gradient weighted by rows (the
    training loss must be a mean over the batch, as every built-in loss is; a parameter-only regularizer is fine)
    and applies the optimizer update to the step's own parameter and state arrays. With dropout, each chunk draws
    its rows of the whole batch's mask (``map_reduce``), as one process does. Everything else (learning rate,
    parameters, ``set_params``) is the wrapped step's."""

    def __init__(self, step: Any, loss: Node, optimizer: Optimizer, workers: int, **compile_options: Any) -> None:
        frozen = [p.name for p in step.param_nodes if not trainable(p)]
        if frozen:
            raise ValueError(f"training on a Dask cluster does not support state a module updates itself ({frozen}: "
                             "batch normalization's running statistics); train this model in one process")
        self._step = step
        self.workers = max(1, int(workers))
        params = step.param_nodes
        extra = [] if step.dropout_seed is None else [step.dropout_seed]
        self._fn = compile_graph([*step.inputs, *params, *extra], [loss, *gradients(loss, params)], **compile_options)
        self._apply, state = _update_kernel(optimizer, params, compile_options)
        if [n.name for n in state] != list(step.state):
            raise RuntimeError("internal: the optimizer's state tensors differ from the step's")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._step, name)

    @property
    def lr(self) -> float:
        return self._step.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._step.lr = value

    def __call__(self, *data: Any) -> float:
        _, da = require_dask()
        rows = len(data[0])
        chunk = max(1, -(-rows // self.workers))
        batch = [da.from_array(np.asarray(d), chunks=(chunk,) + np.shape(d)[1:]) for d in data]
        step = self._step
        loss, *grads = map_reduce(self._fn, [*batch, *step.params.values(), *step.next_seeds()], "mean")
        self._apply(*step.params.values(), *grads, *step.state.values(), step.lr)
        return float(loss)


def connect(scheduler: Any) -> tuple[Any, Any]:
    """``(client, cluster to close or None)`` for ``scheduler``: a ``distributed.Client``, a scheduler address
    (``"tcp://host:8786"``) or ``"local"`` (a LocalCluster with one single-threaded worker process per core)."""
    require_dask()
    import distributed

    if isinstance(scheduler, distributed.Client):
        return scheduler, None
    if scheduler == "local":
        import os

        cluster = distributed.LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                           dashboard_address=":0")
        return distributed.Client(cluster), cluster
    if isinstance(scheduler, str):
        return distributed.Client(scheduler), None
    raise TypeError(f"scheduler must be a distributed.Client, an address or 'local', got {scheduler!r}")
