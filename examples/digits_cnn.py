"""A small convolutional network on the handwritten digits (8x8 pixels): >= 98.5% test accuracy.

The Python-API twin of examples/specs/digits_cnn.toml (same layers and names, so the same compiled kernel):
two 3x3 convolutions with max pooling and a dense layer, trained with Adam; inputs standardized with one mean
and scale for all pixels.

    python examples/digits_cnn.py [--quick] [--plot loss.png]
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
        nn.Reshape((8, 8, 1), name="digits_cnn_reshape1"),
        nn.Conv2D(1, 32, 3, padding="same", activation="relu", name="digits_cnn_conv2d1"),
        nn.MaxPool2D(2, name="digits_cnn_maxpool2d1"),
        nn.Conv2D(32, 64, 3, padding="same", activation="relu", name="digits_cnn_conv2d2"),
        nn.MaxPool2D(2, name="digits_cnn_maxpool2d2"),
        nn.Flatten(name="digits_cnn_flatten1"),
        nn.Dense(256, 64, "relu", name="digits_cnn_dense1"),
        nn.Dropout(0.2, name="digits_cnn_dropout1"),
        nn.Dense(64, 10, name="digits_cnn_dense2"),
    ], name="digits_cnn")
    trainer = Trainer(model, x, y, nn.softmax_cross_entropy, Adam(lr=0.002), regularizer=nn.l2(model, 1e-4))
    history = trainer.fit(data.X_train, data.y_train, epochs=5 if quick else 80, batch_size=32,
                          validation_split=0.1, patience=15, standardize="global", plot=plot)
    results = trainer.evaluate(data.X_test, data.y_test)
    print(f"{history.stop_reason} (kept epoch {history.best_epoch}); test accuracy {results['accuracy']:.4f}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 epochs instead of up to 80")
    parser.add_argument("--plot", help="save the loss curves to this PNG (needs matplotlib)")
    args = parser.parse_args()
    main(args.quick, args.plot)
