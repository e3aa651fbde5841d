"""A radial-basis-function network on a 1-D regression task: y = sin(2x) + x/2 + noise.

Centers start at k-means centers of the inputs, widths from the distances between centers; then
Adam fits centers, widths and output weights together.

    python examples/rbf_regression.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

import symdiff as sd
from symdiff import nn
from symdiff.train import Adam, Trainer, load_dataset


def main(quick: bool = False) -> dict:
    data = load_dataset("curve", n=300)
    x = sd.tensor("x", ("batch", 1))
    y = sd.tensor("y", ("batch", 1))
    rbf = nn.RBF(1, 12, 1, name="rbf_curve")
    start = rbf.init_from_data(data.X_train, seed=0)
    trainer = Trainer(rbf, x, y, nn.squared_error, Adam(lr=0.02), values=start)
    # The centers were placed on raw inputs, so the inputs stay unstandardized.
    history = trainer.fit(data.X_train, data.y_train, epochs=30 if quick else 300, batch_size=32, standardize=False,
                          validation_split=0.15, patience=30)
    results = trainer.evaluate(data.X_test, data.y_test)
    variance = float(np.var(data.y_test))
    print(f"{history.stop_reason}; test mse {results['mse']:.4f} (target variance {variance:.4f}, noise 0.0100)")
    return results | {"variance": variance}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="30 epochs instead of 300")
    main(parser.parse_args().quick)
