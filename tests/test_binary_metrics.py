"""Binary classification (issue 15 point 5): metrics from logits (accuracy, precision, recall, F1, ROC AUC), the
default metric of a binary cross-entropy model, and 1-D or integer 0/1 targets without reshaping."""

import numpy as np
import pytest

import symdiff as sd
from symdiff import nn
from symdiff.train import SGD, Trainer, load_dataset
from symdiff.train.metrics import METRICS, default_metrics

LOGITS = np.array([[2.0], [-1.0], [0.5], [-3.0], [1.5], [-0.2]])
TARGETS = np.array([1, 0, 0, 0, 1, 1])


def test_binary_metrics_from_logits_match_their_definitions():
    predicted = LOGITS[:, 0] > 0  # [1, 0, 1, 0, 1, 0]
    tp, fp, fn = 2, 1, 1
    assert METRICS["binary_accuracy"](LOGITS, TARGETS) == pytest.approx(np.mean(predicted == TARGETS))
    assert METRICS["precision"](LOGITS, TARGETS) == pytest.approx(tp / (tp + fp))
    assert METRICS["recall"](LOGITS, TARGETS) == pytest.approx(tp / (tp + fn))
    assert METRICS["f1"](LOGITS, TARGETS) == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # AUC: the fraction of (positive, negative) pairs ranked correctly; ties count one half
    pos, neg = LOGITS[TARGETS == 1, 0], LOGITS[TARGETS == 0, 0]
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    assert METRICS["roc_auc"](LOGITS, TARGETS) == pytest.approx(np.mean(pairs))
    assert METRICS["roc_auc"](np.array([1.0, 1.0, 0.0]), np.array([1, 0, 0])) == pytest.approx(0.75)  # a tie
    assert np.isnan(METRICS["precision"](-np.ones((3, 1)), np.ones(3)))  # nothing predicted positive: undefined


def test_binary_cross_entropy_takes_1d_and_integer_targets_and_defaults_to_binary_accuracy():
    x = sd.tensor("x", ("batch", 2))
    model = nn.Sequential([nn.Dense(2, 8, "tanh", name="bm_d1"), nn.Dense(8, 1, name="bm_d2")], name="bm")
    for y in (sd.tensor("y", ("batch",)), sd.tensor("y", ("batch",), "int64")):
        trainer = Trainer(model, x, y, nn.binary_cross_entropy, SGD(0.5, momentum=0.9))
        assert trainer.metrics == ["binary_accuracy"]
        data = load_dataset("xor")
        history = trainer.fit(data.X_train, data.y_train.astype(y.dtype), epochs=300, batch_size=4,
                              validation_split=0.0, standardize=False)
        assert trainer.evaluate(data.X_test, data.y_test)["binary_accuracy"] == 1.0, history.last()
    with pytest.raises(ValueError, match=r"targets: label 2 at index \(2,\) is out of range \[0, 2\)"):
        trainer.evaluate(data.X_test, np.array([0, 1, 2, 1]))
    assert default_metrics(False, nn.binary_cross_entropy) == ["binary_accuracy"]
    assert default_metrics(True) == ["accuracy"] and default_metrics(False) == ["mse"]


def test_mse_and_mae_pair_one_output_per_row_with_1d_targets():
    # a (N, 1) output minus (N,) targets broadcast to N x N pairs: mse/mae were means over them, silently
    outputs, targets = np.array([[0.5], [2.0], [-1.0]]), np.array([1.0, 0.0, 0.0])
    assert METRICS["mse"](outputs, targets) == pytest.approx(np.mean((outputs[:, 0] - targets) ** 2))
    assert METRICS["mae"](outputs, targets) == pytest.approx(np.mean(np.abs(outputs[:, 0] - targets)))
    assert METRICS["mse"](outputs, targets[:, None]) == pytest.approx(np.mean((outputs[:, 0] - targets) ** 2))
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(3,\)"):
        METRICS["mse"](np.ones((3, 2)), targets)


def test_accuracy_refuses_outputs_and_targets_that_do_not_pair():
    # argmax over one output is always class 0; against (N, 1) targets it broadcast to N x N comparisons: "accuracy"
    # was the fraction of zero targets whatever the model predicted, silently
    with pytest.raises(ValueError, match=r"metric accuracy needs one output per class .* outputs of shape \(6, 1\) "
                                         r".*use binary_accuracy"):
        METRICS["accuracy"](LOGITS, TARGETS[:, None])
    with pytest.raises(ValueError, match=r"accuracy needs class labels of shape \(4,\) .* got targets of shape "
                                         r"\(4, 3\)"):
        METRICS["accuracy"](np.eye(4, 3), np.eye(4, 3))  # one-hot targets
    assert METRICS["accuracy"](np.eye(4, 3), np.array([0, 1, 2, 1])) == 0.75
    # a binary metric ravelled (1, 3) class scores against one target: three comparisons, silently
    for name in ("binary_accuracy", "precision", "recall", "f1", "roc_auc"):
        with pytest.raises(ValueError, match=rf"metric {name} needs outputs and targets that pair entry by entry; "
                                             r"outputs of shape \(1, 3\) do not pair with targets of shape \(1,\) "
                                             r"\(class scores against class labels: use accuracy\)"):
            METRICS[name](np.array([[1.0, -1.0, 2.0]]), np.array([1]))


def test_a_trainer_refuses_metrics_its_outputs_and_targets_do_not_fit_before_compiling():
    x, y = sd.tensor("x", ("batch", 2)), sd.tensor("y", ("batch", 1))
    model = nn.Sequential([nn.Dense(2, 1, name="bm_one")], name="bm_binary")
    with pytest.raises(ValueError, match=r"metrics: accuracy needs one output per class .* outputs of shape "
                                         r"\('batch', 1\) .*use binary_accuracy"):
        Trainer(model, x, y, nn.binary_cross_entropy, SGD(0.1), metrics=["binary_accuracy", "accuracy"])
    labels = sd.tensor("y", ("batch",), "int64")
    classes = nn.Sequential([nn.Dense(2, 3, name="bm_three")], name="bm_classes")
    with pytest.raises(ValueError, match=r"metrics: roc_auc needs outputs and targets that pair entry by entry"):
        Trainer(classes, x, labels, nn.softmax_cross_entropy, SGD(0.1), metrics=["accuracy", "roc_auc"])
    assert Trainer(classes, x, labels, nn.softmax_cross_entropy, SGD(0.1), metrics=["accuracy"]).metrics == ["accuracy"]
