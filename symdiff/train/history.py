"""What a training run records: per-epoch values, why it stopped, and loss curves as a PNG."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: ``History.stop_reason`` of a run stopped by Ctrl-C.
INTERRUPTED = "interrupted"
#: File formats History.plot writes, by suffix.
PLOT_FORMATS = ("png", "svg", "pdf")


@dataclass
class History:
    """Per-epoch records: ``history["loss"]``, ``history["val_loss"]``, ``history["val_accuracy"]``, ``["lr"]``...

    ``best_epoch`` is the epoch (1-based) with the best monitored loss, whose parameters ``fit`` keeps when
    ``restore_best`` (0: no epoch finished with a finite loss; the starting parameters); ``stop_reason`` says
    why training ended (``INTERRUPTED`` for Ctrl-C; the epochs recorded are those that finished).
    """

    values: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    stop_reason: str = ""

    def record(self, **values: float) -> None:
        """Append one epoch's values."""
        for key, value in values.items():
            self.values.setdefault(key, []).append(float(value))

    def __repr__(self) -> str:
        last = ", ".join(f"{k} {v:.4g}" for k, v in self.last().items() if k not in ("lr", "seconds"))
        return (f"History({self.epochs} epochs, best epoch {self.best_epoch}"
                + (f", {self.stop_reason}" if self.stop_reason else "") + (f"; last: {last}" if last else "") + ")")

    def _repr_png_(self) -> bytes | None:
        """Notebooks draw the loss curves (when matplotlib is installed and an epoch was recorded)."""
        if not self.epochs:
            return None
        try:
            figure = self.plot()
        except RuntimeError:  # no matplotlib: the text repr is shown instead
            return None
        from io import BytesIO

        buffer = BytesIO()
        figure.savefig(buffer, format="png", dpi=80)
        return buffer.getvalue()

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.values:
            raise KeyError(f"history has no {key!r}; it has {sorted(self.values)}")
        return self.values[key]

    def __contains__(self, key: str) -> bool:
        return key in self.values

    @property
    def epochs(self) -> int:
        """Number of epochs run."""
        return len(self.values.get("loss", ()))

    def last(self) -> dict[str, float]:
        """The final epoch's values."""
        return {key: values[-1] for key, values in self.values.items()}

    def plot(self, path: str | Path | None = None) -> Any:
        """Loss curves (and metric curves, if any) as a matplotlib Figure (shown inline in a notebook), or saved to
        ``path`` in the format its suffix names (.png, .svg, .pdf), returning the path. Needs matplotlib."""
        target = None if path is None else Path(path)
        if target is not None and target.suffix.lower().lstrip(".") not in PLOT_FORMATS:
            raise ValueError(f"plot: {target}: expected a file ending in "
                             f"{', '.join('.' + f for f in PLOT_FORMATS)}")
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise RuntimeError("plotting needs matplotlib: pip install matplotlib (or symdiff[plot])") from None
        metrics = [k for k in self.values if k not in ("loss", "val_loss", "lr", "seconds")]
        figure = Figure(figsize=(10 if metrics else 6, 4))
        FigureCanvasAgg(figure)  # attaches the non-interactive canvas; pyplot's global state stays untouched
        axes = figure.subplots(1, 2 if metrics else 1, squeeze=False)[0]
        epochs = np.arange(1, self.epochs + 1)
        for key in ("loss", "val_loss"):
            if key in self.values:
                axes[0].plot(epochs, self.values[key], label=key)
        if self.best_epoch:
            axes[0].axvline(self.best_epoch, color="gray", linestyle=":", label=f"kept (epoch {self.best_epoch})")
        axes[0].set(xlabel="epoch", ylabel="loss", title="loss", yscale="log" if _positive(self.values) else "linear")
        axes[0].legend()
        if metrics:
            for key in metrics:
                axes[1].plot(epochs, self.values[key], label=key)
            axes[1].set(xlabel="epoch", title="metrics")
            axes[1].legend()
        figure.tight_layout()
        if target is None:
            return figure
        figure.savefig(target, format=target.suffix.lower().lstrip("."), dpi=100)
        return target


def _positive(values: dict[str, list[float]]) -> bool:
    losses = values.get("loss", []) + values.get("val_loss", [])
    return bool(losses) and min(losses) > 0 and np.all(np.isfinite(losses))


@dataclass
class Monitor:
    """Learning-rate halving on plateaus and early stopping from one loss per epoch (validation loss, else
    training loss).

    ``update(loss)`` returns ``(improved, halve, stop)``: the loss beat the best so far; ``lr_patience`` epochs
    passed without a new best since the last best or the last halving (halve the learning rate, when
    ``halve_lr``: Keras' ReduceLROnPlateau rule; halving at every rise cut digits' rate 30-fold in 20 epochs);
    ``patience`` epochs passed without a new best (stop; ``patience=0`` never stops).
    """

    patience: int = 0
    halve_lr: bool = True
    lr_patience: int = 3
    best: float = np.inf
    best_epoch: int = 0
    waited: int = 0
    epoch: int = 0

    def update(self, loss: float) -> tuple[bool, bool, bool]:
        self.epoch += 1
        improved = loss < self.best
        if improved:
            self.best, self.best_epoch, self.waited = loss, self.epoch, 0
        else:
            self.waited += 1
        halve = self.halve_lr and self.waited >= self.lr_patience
        if halve:
            self.waited = 0
        stop = self.patience > 0 and self.epoch - self.best_epoch >= self.patience
        return improved, halve, stop
