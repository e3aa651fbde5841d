"""Model bundles: a directory a user can open without symdiff (NumPy ``.npz`` arrays, JSON metadata, the spec as
JSON when the model came from one) holding what a trained model is: parameters, optimizer state and learning rate,
the standardization statistics, the history, and the symdiff version that wrote it.

    params.npz          the parameters by name
    state.npz           the optimizer state by name, and "lr"
    standardization.npz "mean" and "scale" (absent when inputs are not standardized)
    history.json        per-epoch values, best epoch, stop reason
    meta.json           format version, symdiff version, model name, input/target/parameter shapes and dtypes
    random.json         the trainer's seed and the state of the generator its dropout seeds are drawn from (NumPy's
                        ``bit_generator.state``: strings and integers), so further training continues bit for bit
    spec.json           the model spec (bundles written by spec-built trainers; symdiff.load_model rebuilds from it)
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from .checks import check_int
from .history import History
from .step import seed_generator

if TYPE_CHECKING:
    from .trainer import Trainer

FORMAT = 1
RANDOM = "random.json"


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
    random = {"seed": trainer.seed, "dropout_seeds": trainer.step.seed_state}
    (path / RANDOM).write_text(json.dumps(random, indent=1) + "\n")
    if trainer.spec_settings is not None:
        (path / "spec.json").write_text(json.dumps(trainer.spec_settings, indent=1) + "\n")
    return path


def load_state(trainer: Trainer, path: str | Path) -> None:
    """Put a bundle's parameters, optimizer state, learning rate, standardization, history, seed and dropout seeds'
    generator into ``trainer``, after checking its parameters are the bundle's (names, shapes, dtypes); every file is
    read and checked before the trainer changes."""
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"load: {path} is a bundle of format {meta.get('format')!r}; this symdiff reads {FORMAT}")
    have = [_signature(p) for p in trainer.model.parameters.values()]
    if have != meta["parameters"]:
        raise ValueError(f"load: {path} holds parameters {[(p['name'], p['shape']) for p in meta['parameters']]}, "
                         f"the model has {[(p['name'], p['shape']) for p in have]}")
    params, state = _arrays(path / "params.npz"), _arrays(path / "state.npz")
    stats = _arrays(path / "standardization.npz") if (path / "standardization.npz").exists() else None
    mean, scale = (stats["mean"], stats["scale"]) if stats is not None else (None, None)
    record = json.loads((path / "history.json").read_text())
    history = History(record["values"], record["best_epoch"], record["stop_reason"])
    seed, seeds = _random_state(trainer, path, meta)
    try:
        trainer.step.restore(params, state, float(state.get("lr", np.nan)), seeds)
    except ValueError as exc:
        raise ValueError(f"load: {path}: {exc}") from None
    trainer.seed, trainer.history = seed, history
    trainer.mean, trainer.scale = mean, scale


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def _random_state(trainer: Trainer, path: Path, meta: dict[str, Any]) -> tuple[int, np.random.Generator | None]:
    """The saved seed and the dropout seeds' generator, continuing from its saved state (checked); a bundle written
    before they were saved keeps the trainer's seed and generator, with a warning when the model has dropout."""
    file = path / RANDOM
    if not file.exists():
        if trainer.step.dropout_seed is not None:
            warnings.warn(f"load: {path} has no {RANDOM} (written by symdiff {meta.get('symdiff')}): the dropout "
                          "masks of further training restart from the trainer's seed, not where the saved trainer "
                          "was", stacklevel=4)
        return trainer.seed, None
    try:
        record = json.loads(file.read_text())
        if not isinstance(record, dict) or set(record) != {"seed", "dropout_seeds"}:
            raise ValueError(f"expected an object with keys seed and dropout_seeds, got {record!r}")
        return check_int("seed", record["seed"], 0), seed_generator(record["dropout_seeds"])
    except ValueError as exc:
        raise ValueError(f"load: {file}: {exc}") from None
