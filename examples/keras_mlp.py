"""The Keras-style MLP: 20 -> 64 tanh -> dropout 0.5 -> 64 tanh -> dropout 0.5 -> 10 softmax, trained with
SGD (learning rate 0.1, momentum 0.9, Nesterov) in batches of 16, on synthetic clustered data.

    python examples/keras_mlp.py [--quick]
"""

from __future__ import annotations

import argparse

import symdiff as sd
from symdiff import nn
from symdiff.train import SGD, Trainer, load_dataset


def main(quick: bool = False) -> dict:
    data = load_dataset("classification", n=1000, features=20, classes=10, spread=0.6)
    x = sd.tensor("x", ("batch", 20))
    y = sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([
        nn.Dense(20, 64, "tanh", name="keras_dense1"), nn.Dropout(0.5, name="keras_dropout1"),
        nn.Dense(64, 64, "tanh", name="keras_dense2"), nn.Dropout(0.5, name="keras_dropout2"),
        nn.Dense(64, 10, name="keras_dense3"),     # softmax is inside the cross-entropy (on logits)
    ], name="keras_mlp")
    optimizer = SGD(lr=0.1, momentum=0.9, nesterov=True)
    trainer = Trainer(model, x, y, nn.softmax_cross_entropy, optimizer)
    history = trainer.fit(data.X_train, data.y_train, epochs=3 if quick else 20, batch_size=16,
                          validation_split=0.1, patience=5)
    results = trainer.evaluate(data.X_test, data.y_test)
    print(f"{history.stop_reason}; test loss {results['loss']:.4f}, test accuracy {results['accuracy']:.3f}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 epochs instead of 20")
    main(parser.parse_args().quick)
