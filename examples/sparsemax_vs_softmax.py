"""A linear classifier trained twice: softmax + cross-entropy, and sparsemax + the sparsemax loss.

Both reach similar accuracy; sparsemax's probability vectors are sparse (exact zeros), softmax's never are.

    python examples/sparsemax_vs_softmax.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

import symdiff as sd
from symdiff import nn
from symdiff.train import Adam, Trainer, load_dataset

CLASSES = 5


def train(loss, name: str, data, epochs: int) -> Trainer:
    x = sd.tensor("x", ("batch", data.features))
    y = sd.tensor("y", ("batch",), "int64")
    model = nn.Dense(data.features, CLASSES, name=name)
    trainer = Trainer(model, x, y, loss, Adam(lr=0.05))
    trainer.fit(data.X_train, data.y_train, epochs=epochs, batch_size=32, validation_split=0.1, patience=10)
    return trainer


def main(quick: bool = False) -> dict:
    data = load_dataset("classification", n=800, features=10, classes=CLASSES, spread=1.2)
    z = sd.tensor("z", ("batch", CLASSES))
    results = {}
    for name, loss, mapping in [("softmax", nn.softmax_cross_entropy, sd.softmax(z)),
                                ("sparsemax", nn.sparsemax_loss, nn.sparsemax(z))]:
        trainer = train(loss, f"{name}_linear", data, 5 if quick else 60)
        probabilities = sd.evaluate(mapping, {z: trainer(data.X_test)})
        accuracy = float(np.mean(probabilities.argmax(axis=1) == data.y_test))
        nonzero = float(np.mean(np.sum(probabilities > 0, axis=1)))
        print(f"{name:9s}: test accuracy {accuracy:.3f}, on average {nonzero:.2f} of {CLASSES} classes get "
              "nonzero probability")
        results[name] = {"accuracy": accuracy, "nonzero": nonzero}
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 epochs instead of 60")
    main(parser.parse_args().quick)
