"""Short reprs and a Keras-like summary (issue 15 point 7, in part): no array dumps, the numbers a user wants."""

import numpy as np

import symdiff as sd
from symdiff import nn
from symdiff.train import Adam, Trainer, load_dataset


def test_model_summary_lists_layers_output_shapes_and_parameter_counts():
    x = sd.tensor("x", ("batch", 8, 8, 1))
    cnn = nn.Sequential([nn.Conv2D(1, 4, 3, padding="same", activation="relu", name="sum_c"),
                         nn.MaxPool2D(2, name="sum_p"), nn.Flatten(name="sum_f"), nn.Dense(64, 10, name="sum_d")],
                        name="sum")
    lines = cnn.summary(x).splitlines()
    assert lines[0].split() == ["layer", "output", "shape", "parameters"]
    assert lines[1].startswith("sum_c (Conv2D)") and "('batch', 8, 8, 4)" in lines[1] and lines[1].endswith(" 40")
    assert "('batch', 64)" in lines[3] and lines[4].endswith(" 650")
    assert lines[-1].split() == ["total", "690"]


def test_dataset_history_and_trainer_reprs_are_short():
    data = load_dataset("xor")
    assert repr(data) == "Dataset('xor': 4 training and 4 test rows, 2 features, 2 classes)"
    model = nn.Sequential([nn.Dense(2, 3, "tanh", name="rep_d1"), nn.Dense(3, 2, name="rep_d2")], name="rep")
    trainer = Trainer(model, sd.tensor("x", ("batch", 2)), sd.tensor("y", ("batch",), "int64"),
                      nn.softmax_cross_entropy, Adam(0.1))
    history = trainer.fit(data.X_train, data.y_train, epochs=3, batch_size=4)
    assert repr(history).startswith("History(3 epochs, best epoch ") and "loss " in repr(history)
    text = repr(trainer)
    assert text.startswith("<Trainer of Sequential('rep'): 17 parameters, Adam(") and "3 epochs trained" in text
    assert "array(" not in repr(data) + repr(history) + text and np.isfinite(history.last()["loss"])


def test_notebook_reprs_show_formulas_kernels_and_curves():
    x = sd.tensor("x", ("batch", 3))
    assert sd.tanh(x)._repr_latex_() == r"$\tanh{\left(x \right)} \quad \text{('batch', 3) float64}$"
    fn = sd.compile([x], sd.sum(sd.tanh(x)))
    html = fn._repr_html_()
    assert html.startswith("<b>fn</b>(x: (&#x27;batch&#x27;, 3) float64) &rarr; 1 outputs; backend native")
    assert "<details><summary>generated source</summary><pre>" in html and "def fn(" in html
    from symdiff.train.history import History

    history = History()
    assert history._repr_png_() is None  # nothing to draw yet
    history.record(loss=1.0, lr=0.1, seconds=0.0)
    history.record(loss=0.5, lr=0.1, seconds=0.1)
    assert history._repr_png_().startswith(b"\x89PNG")


def test_summary_counts_a_layer_used_twice_once():
    x = sd.tensor("x", ("batch", 3))
    shared = nn.Dense(3, 3, "tanh", name="sum_shared")
    model = nn.Sequential([shared, shared, nn.Dense(3, 1, name="sum_out")], name="sum_tied")
    text = model.summary(x)
    assert isinstance(text, str)  # returned, not printed (docs/nn.md: print it)
    lines = text.splitlines()
    assert lines[1].startswith("sum_shared (Dense)") and lines[1].endswith(" 12")
    assert lines[2].startswith("sum_shared (Dense)") and lines[2].endswith(" 0 (shared)")
    assert lines[-1].split() == ["total", "16"] == ["total", str(sum(v.size for v in model.init().values()))]
