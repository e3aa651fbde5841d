"""Losses: a per-example loss summed over every non-batch axis, then the mean over the batch (axis 0).

Batch means divide by the ``count`` of the batch axis, so a named batch dim ("batch") works.
Targets given as integers are class labels along the last axis of the scores; float targets are
one-hot rows (or probabilities) of the scores' shape. Validate label arrays with :func:`check_labels`.
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..ir import Node, ShapeError
from ..ops import cast, expand_dims, log_softmax, maximum, mean, one_hot, softplus, squeeze, take_along_axis
from ..ops.convert import as_node
from ..ops.elementwise import to_float
from .sparsemax import sparsemax_threshold


def batch_mean(per_entry: Node) -> Node:
    """Sum over every axis but the first, then the mean over the first (the batch)."""
    if per_entry.ndim == 0:
        return per_entry
    per_example = ops.sum(per_entry, axis=tuple(range(1, per_entry.ndim)))
    return mean(per_example, axis=0)


def _same_shape(what: str, a: Node, b: Node, names: tuple[str, str]) -> None:
    if a.shape != b.shape:
        raise ShapeError(f"{what}: {names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}; "
                         "they must match")


def _is_labels(targets: Node) -> bool:
    return targets.dtype in ("int32", "int64")


def _targets(what: str, scores: Node, targets) -> Node:
    """Float targets of the scores' shape; integer labels become one-hot rows."""
    targets = as_node(targets)
    if _is_labels(targets):
        _check_label_shape(what, scores, targets)
        return one_hot(targets, _classes(what, scores), scores.dtype)
    _same_shape(what, scores, targets, ("scores", "targets"))
    return to_float(targets)


def _classes(what: str, scores: Node) -> int:
    classes = scores.shape[-1] if scores.ndim else None
    if not isinstance(classes, int):
        raise ShapeError(f"{what}: the class axis (last) of scores {scores.shape} must be a concrete size")
    return classes


def _check_label_shape(what: str, scores: Node, labels: Node) -> None:
    if labels.shape != scores.shape[:-1]:
        raise ShapeError(f"{what}: labels have shape {labels.shape}; expected {scores.shape[:-1]} "
                         f"(the scores' shape {scores.shape} without its class axis)")


def _picked(what: str, scores: Node, labels: Node) -> Node:
    """``scores[..., labels]``: the score of each example's labelled class."""
    _check_label_shape(what, scores, labels)
    return squeeze(take_along_axis(scores, expand_dims(labels, -1), axis=-1), -1)


def squared_error(predictions, targets) -> Node:
    """``mean_batch(1/2 ||targets - predictions||^2)``."""
    predictions, targets = to_float(as_node(predictions)), to_float(as_node(targets))
    _same_shape("squared_error", predictions, targets, ("predictions", "targets"))
    diff = targets - predictions
    return batch_mean(0.5 * diff * diff)


def softmax_cross_entropy(logits, targets) -> Node:
    """``mean_batch(-sum(targets * log_softmax(logits)))``; integer ``targets`` are class labels.

    Computed from logits through log_softmax, so it is finite at any logit; its gradient with
    respect to the logits is ``(softmax(logits) - onehot) / batch``.
    """
    logits = to_float(as_node(logits))
    targets = as_node(targets)
    log_p = log_softmax(logits)
    if _is_labels(targets):
        return batch_mean(-_picked("softmax_cross_entropy", log_p, targets))
    return batch_mean(-(_targets("softmax_cross_entropy", logits, targets) * log_p))


def binary_cross_entropy(logits, targets) -> Node:
    """``mean_batch(-t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)))`` from logits x.

    Written as ``softplus(x) - t x``, which is finite for any logit (no log of 0 at |x| >= 1000). Targets are
    0/1 values (float or integer) of the logits' shape, or one per row for logits of shape ``("batch", 1)``.
    """
    logits = to_float(as_node(logits))
    targets = cast(as_node(targets), logits.dtype)
    if logits.ndim == 2 and logits.shape[1] == 1 and targets.shape == logits.shape[:1]:
        targets = expand_dims(targets, -1)  # one target per row
    _same_shape("binary_cross_entropy", logits, targets, ("logits", "targets"))
    return batch_mean(softplus(logits) - targets * logits)


def multiclass_hinge(scores, labels, margin: float = 1.0) -> Node:
    """``mean_batch(sum_{j != y} max(0, s_j - s_y + margin))`` (the multiclass SVM loss)."""
    scores, labels = to_float(as_node(scores)), as_node(labels)
    if not _is_labels(labels):
        raise TypeError(f"multiclass_hinge: labels must be integers, got {labels.dtype}")
    correct = expand_dims(_picked("multiclass_hinge", scores, labels), -1)
    others = 1.0 - one_hot(labels, _classes("multiclass_hinge", scores), scores.dtype)
    return batch_mean(maximum(0.0, scores - correct + float(margin)) * others)


def triplet_loss(anchor, positive, negative, margin: float = 1.0) -> Node:
    """``mean_batch(max(0, ||a - p||^2 - ||a - n||^2 + margin))`` over the last (embedding) axis."""
    anchor, positive, negative = (to_float(as_node(v)) for v in (anchor, positive, negative))
    _same_shape("triplet_loss", anchor, positive, ("anchor", "positive"))
    _same_shape("triplet_loss", anchor, negative, ("anchor", "negative"))
    to_pos, to_neg = anchor - positive, anchor - negative
    gap = ops.sum(to_pos * to_pos, axis=-1) - ops.sum(to_neg * to_neg, axis=-1)
    return batch_mean(maximum(0.0, gap + float(margin)))


def sparsemax_loss(logits, targets) -> Node:
    """The sparsemax loss ``-q.z + 1/2 sum_{j in S} (z_j^2 - tau^2) + 1/2 ||q||^2`` (Martins & Astudillo).

    ``q`` is the one-hot row of an integer label (then the last term is 1/2) or a given target
    distribution. Its gradient with respect to z is ``sparsemax(z) - q``.
    """
    logits = to_float(as_node(logits))
    q = _targets("sparsemax_loss", logits, targets)
    tau, support = sparsemax_threshold(logits)
    spread = 0.5 * ops.sum(support * (logits * logits - tau * tau), axis=-1)
    return batch_mean(spread - ops.sum(q * logits, axis=-1) + 0.5 * ops.sum(q * q, axis=-1))


def check_labels(labels, num_classes: int, name: str = "labels") -> np.ndarray:
    """``labels`` as an int64 array after checking they are integers in ``[0, num_classes)``.

    Graphs check labels too (an IndexError from sd.evaluate or the compiled kernel); this check runs before any
    work and says which label is wrong and where, for label arrays read from files or given by users.
    """
    array = np.asarray(labels)
    if array.dtype.kind not in "iu" and not (array.dtype.kind == "f" and np.all(array == np.round(array))):
        raise TypeError(f"{name}: class labels must be integers, got dtype {array.dtype}")
    bad = np.flatnonzero((array < 0) | (array >= num_classes))
    if bad.size:
        index = np.unravel_index(bad[0], array.shape)
        where = tuple(int(i) for i in index)
        raise ValueError(f"{name}: label {array[index].item()!r} at index {where} is out of range [0, {num_classes}) "
                         f"({bad.size} of {array.size} labels out of range)")
    return array.astype(np.int64)
