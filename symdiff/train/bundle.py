"""Model bundles: a directory a user can open without symdiff (NumPy ``.npz`` arrays, JSON metadata, the spec as
JSON when the model came from one) holding what a trained model is: parameters, optimizer state and learning rate,
the standardization statistics, the history, and the symdiff version that wrote it.

    params.npz          the parameters by name
    state.npz           the optimizer state by name, and "lr"
    standardization.npz "mean" and "scale" (absent when inputs are not standardized)
    history.json        per-epoch values, best epoch, stop reason
    meta.json           format version, symdiff version, model name, input/target/parameter shapes and dtypes
    spec.json           the model spec (bundles written by spec-built trainers; symdiff.load_model rebuilds from it)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from .history import History

if TYPE_CHECKING:
    from .trainer import Trainer

FORMAT = 1


def _signature(node) -> dict[str, Any]:
    return {"name": node.name, "shape": list(node.shape), "dtype": node.dtype}


def save_bundle(trainer: Trainer, path: str | Path) -> Path:
    """Write ``trainer``'s model to the directory ``path`` (created; its parent must exist)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"save: the directory {path.parent} does not exist")
    path.mkdir(exist_ok=True)
    np.savez(path / "params.npz", **trainer.params)
    np.savez(path / "state.npz", **trainer.step.state, lr=np.array(trainer.step.lr))
    if trainer.mean is not None:
        np.savez(path / "standardization.npz", mean=trainer.mean, scale=trainer.scale)
    else:
        (path / "standardization.npz").unlink(missing_ok=True)
    history = trainer.history
    (path / "history.json").write_text(json.dumps({"values": history.values, "best_epoch": history.best_epoch,
                                                   "stop_reason": history.stop_reason}, indent=1) + "\n")
    meta = {"format": FORMAT, "symdiff": __version__, "model": trainer.model.name,
            "inputs": _signature(trainer.x), "targets": _signature(trainer.y),
            "parameters": [_signature(p) for p in trainer.model.parameters.values()]}
    (path / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    if trainer.spec_settings is not None:
        (path / "spec.json").write_text(json.dumps(trainer.spec_settings, indent=1) + "\n")
    return path


def load_state(trainer: Trainer, path: str | Path) -> None:
    """Put a bundle's parameters, optimizer state, learning rate, standardization and history into ``trainer``,
    after checking its parameters are the bundle's (names, shapes, dtypes)."""
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"load: {path} is a bundle of format {meta.get('format')!r}; this symdiff reads {FORMAT}")
    have = [_signature(p) for p in trainer.model.parameters.values()]
    if have != meta["parameters"]:
        raise ValueError(f"load: {path} holds parameters {[(p['name'], p['shape']) for p in meta['parameters']]}, "
                         f"the model has {[(p['name'], p['shape']) for p in have]}")
    with np.load(path / "params.npz") as params:
        trainer.step.set_params({name: params[name] for name in params.files})
    with np.load(path / "state.npz") as state:
        for name, array in trainer.step.state.items():
            np.copyto(array, state[name])
        trainer.step.lr = float(state["lr"])
    scaling = path / "standardization.npz"
    trainer.mean = trainer.scale = None
    if scaling.exists():
        with np.load(scaling) as stats:
            trainer.mean, trainer.scale = stats["mean"], stats["scale"]
    record = json.loads((path / "history.json").read_text())
    trainer.history = History(record["values"], record["best_epoch"], record["stop_reason"])
