"""Handwritten digits (8x8 pixels, 10 classes) with a one-hidden-layer network: >= 95% test accuracy.

The Python-API twin of examples/specs/digits.toml and of `symdiff demo` (same layers and names, so the
same compiled kernel).

    python examples/digits.py [--quick] [--plot loss.png]
"""

from __future__ import annotations

import argparse

import symdiff as sd
from symdiff import nn
from symdiff.train import Adam, Trainer, load_dataset


def main(quick: bool = False, plot: str | None = None) -> dict:
    data = load_dataset("digits")
    x = sd.tensor("x", ("batch", 64))
    y = sd.tensor("y", ("batch",), "int64")
    model = nn.Sequential([
        nn.Dense(64, 64, "tanh", name="digits_dense1"),
        nn.Dropout(0.1, name="digits_dropout1"),
        nn.Dense(64, 10, name="digits_dense2"),
    ], name="digits")
    trainer = Trainer(model, x, y, nn.softmax_cross_entropy, Adam(lr=0.005), regularizer=nn.l2(model, 1e-4))
    history = trainer.fit(data.X_train, data.y_train, epochs=40, batch_size=32, validation_split=0.1, patience=8,
                          plot=plot)
    results = trainer.evaluate(data.X_test, data.y_test)
    print(f"{history.stop_reason} (kept epoch {history.best_epoch}); test accuracy {results['accuracy']:.3f}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="accepted for uniformity: training takes a second")
    parser.add_argument("--plot", help="save the loss curves to this PNG (needs matplotlib)")
    args = parser.parse_args()
    main(args.quick, args.plot)
