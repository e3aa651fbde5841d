"""Model spec files: TOML, JSON or a dict describing inputs, layers, activations (custom ones as
expressions in x), loss, regularizer, optimizer and training settings.

``sd.load_spec("mlp.toml")`` returns a :class:`Spec` (``spec.model``, ``spec.loss()``, ...);
``spec.compile()`` gives a callable, trainable :class:`~symdiff.train.Trainer`. Errors name the file,
the key path and what was expected: ``mlp.toml: layers[2].units: expected a positive integer, got 0 (int)``.
"""

from .io import dump_spec, load_model, load_spec, read_spec, to_toml
from .layers import LAYERS
from .model import Spec
from .schema import SpecError
from .settings import LOSSES, REGULARIZERS

__all__ = ["LAYERS", "LOSSES", "REGULARIZERS", "Spec", "SpecError", "dump_spec", "load_model", "load_spec", "read_spec",
           "to_toml"]
