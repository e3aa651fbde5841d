"""Adding binary numbers digit by digit with an LSTM: every digit and every sum right on the test set.

Each example is two 8-digit numbers read least significant digit first, one pair of digits per step; the network
emits one digit of the sum per step, so it must learn to carry. The model is ``sd.nn.LSTM`` (one ``sd.scan`` over
the steps: the graph does not grow with the number of digits) and a dense layer applied at every step; the
training step (forward, backpropagation through time and Adam) is one compiled kernel.
examples/specs/binary_addition.toml trains the same task with a SimpleRNN from the command line.

    python examples/binary_addition.py [--quick]
"""

from __future__ import annotations

import argparse

import numpy as np

import symdiff as sd
from symdiff import nn
from symdiff.train import Adam, Trainer, load_dataset

BITS = 8


def main(quick: bool = False) -> dict:
    data = load_dataset("binary_addition", bits=BITS)
    x = sd.tensor("x", ("batch", 2 * BITS))
    y = sd.tensor("y", ("batch", BITS))
    model = nn.Sequential([
        nn.Reshape((BITS, 2), name="adder_steps"),
        nn.LSTM(2, 12, return_sequences=True, name="adder_lstm"),
        nn.Dense(12, 1, name="adder_digit"),  # one logit per step
        nn.Flatten(name="adder_flatten"),
    ], name="adder")
    trainer = Trainer(model, x, y, nn.binary_cross_entropy, Adam(lr=0.02))
    history = trainer.fit(data.X_train, data.y_train, epochs=15 if quick else 60, batch_size=32,
                          standardize=False)
    digits = trainer.predict(data.X_test) > 0  # a logit above 0 predicts digit 1
    results = {"digit_accuracy": float(np.mean(digits == data.y_test)),
               "sum_accuracy": float(np.mean(np.all(digits == data.y_test, axis=1)))}
    print(f"{history.stop_reason}: test digits {results['digit_accuracy']:.4f} right, "
          f"whole sums {results['sum_accuracy']:.4f} right")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="15 epochs instead of 60")
    main(parser.parse_args().quick)
