"""Gradient checking by central finite differences, perturbing one entry at a time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .autodiff import grad
from .evaluate import bind_feed, evaluate
from .ir import Node, inputs_of


@dataclass(frozen=True)
class GradCheckResult:
    """The worst entry seen: which input and index, the two derivatives and their scaled error.

    ``ratio`` is ``|analytic - numeric| / (atol + rtol * max(|analytic|, |numeric|))``: the check
    passes when it is at most 1.
    """

    input: str
    index: tuple[int, ...]
    analytic: float
    numeric: float
    ratio: float
    entries: int

    def __str__(self) -> str:
        return (f"worst entry {self.input}{list(self.index)}: analytic {self.analytic!r}, numeric {self.numeric!r} "
                f"(error ratio {self.ratio:.3g}, {self.entries} entries checked)")


class GradientCheckError(AssertionError):
    """The symbolic gradient disagrees with central finite differences."""

    def __init__(self, result: GradCheckResult) -> None:
        super().__init__(f"gradient check failed: {result}")
        self.result = result


def check_grad(
    y: Node, wrt: Node | Sequence[Node], feed: Mapping[Node | str, Any], *,
    eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-8,
) -> GradCheckResult:
    """Compare ``grad(y, wrt)`` with central differences ``(y(x + eps e_i) - y(x - eps e_i)) / 2 eps``.

    Each entry of each ``wrt`` tensor is perturbed on its own. Returns the worst entry; raises
    :class:`GradientCheckError` naming it when its error exceeds ``atol + rtol * scale``.
    """
    targets = [wrt] if isinstance(wrt, Node) else list(wrt)
    grads = grad(y, targets)
    arrays, _ = bind_feed(inputs_of([y, *grads, *targets]), feed)
    values = {node: arrays[id(node)].copy() for node in inputs_of([y, *grads, *targets])}
    analytic = evaluate(grads, values)
    worst: GradCheckResult | None = None
    entries = 0
    for target, ana in zip(targets, analytic):
        x = values[target]
        for index in np.ndindex(*x.shape):
            saved = x[index]
            x[index] = saved + eps
            up = float(evaluate(y, values))
            x[index] = saved - eps
            down = float(evaluate(y, values))
            x[index] = saved
            numeric = (up - down) / (2 * eps)
            a = float(ana[index])
            ratio = abs(a - numeric) / (atol + rtol * max(abs(a), abs(numeric)))
            if not np.isfinite(ratio):
                ratio = np.inf
            entries += 1
            if worst is None or ratio > worst.ratio:
                worst = GradCheckResult(target.name or target.op, index, a, numeric, ratio, 0)
    if worst is None:
        return GradCheckResult("", (), 0.0, 0.0, 0.0, 0)
    worst = GradCheckResult(worst.input, worst.index, worst.analytic, worst.numeric, worst.ratio, entries)
    if worst.ratio > 1:
        raise GradientCheckError(worst)
    return worst
