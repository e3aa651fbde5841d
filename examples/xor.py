"""XOR with a small tanh network, described by a spec file (examples/specs/xor.toml).

    python examples/xor.py [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import symdiff as sd
from symdiff.spec import load_spec
from symdiff.train import load_dataset

SPEC = Path(__file__).with_name("specs") / "xor.toml"


def main(quick: bool = False) -> dict:
    spec = load_spec(SPEC)                      # the model, loss, optimizer and training settings
    data = load_dataset("xor")
    trainer = spec.compile()                    # one kernel: forward + backward + momentum update
    history = spec.fit(trainer, data.X_train, data.y_train, epochs=60 if quick else 200)
    outputs = trainer(data.X_test)              # the trainer is the model: calling it predicts
    print("inputs -> predicted class:")
    for x, out in zip(data.X_test, outputs.argmax(axis=1)):
        print(f"  {x} -> {out}")
    results = trainer.evaluate(data.X_test, data.y_test)
    print(f"loss {results['loss']:.5f}, accuracy {results['accuracy']:.2f} after {history.epochs} epochs")
    W2 = spec.model.parameters["xor_dense2_W"]
    print("gradient of the loss with respect to the output weights:")
    print(sd.formula({"∂L/∂W2": sd.grad(spec.loss(), W2)}))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer epochs")
    main(parser.parse_args().quick)
