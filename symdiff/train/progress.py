"""Progress of a training run: a tqdm bar over epochs when tqdm is installed, else a few plain lines."""

from __future__ import annotations

import sys
from typing import TextIO

#: Plain-text progress prints about this many epoch lines per run (and always the last one).
PLAIN_LINES = 10


def format_values(values: dict[str, float]) -> str:
    """``loss 0.1234  val_accuracy 0.9500  lr 0.1`` (the order given)."""
    return "  ".join(f"{key} {value:.4g}" for key, value in values.items())


def in_notebook_kernel() -> bool:
    """True inside a running Jupyter kernel (not merely when ipykernel was imported, as a test harness may)."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    shell = sys.modules["IPython"].get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class Progress:
    """Reports each epoch's values; ``enabled=None`` shows progress when ``stream`` is a terminal or the code runs
    in a notebook kernel (where tqdm.auto draws a widget)."""

    def __init__(self, epochs: int, enabled: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.epochs = epochs
        interactive = self.stream.isatty() or in_notebook_kernel()
        self.enabled = interactive if enabled is None else bool(enabled)
        self._bar = None
        if self.enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._bar = tqdm(total=epochs, unit="epoch", file=self.stream, dynamic_ncols=True)

    def update(self, epoch: int, values: dict[str, float]) -> None:
        """Report epoch ``epoch`` (1-based) with its recorded values."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(format_values(values), refresh=False)
            self._bar.update(1)
        elif epoch == 1 or epoch % max(1, self.epochs // PLAIN_LINES) == 0 or epoch == self.epochs:
            print(f"epoch {epoch}/{self.epochs}  {format_values(values)}", file=self.stream, flush=True)

    def close(self, message: str = "") -> None:
        """End the bar; print ``message`` (e.g. why training stopped early) when progress is shown."""
        if self._bar is not None:
            self._bar.close()
        if self.enabled and message:
            print(message, file=self.stream, flush=True)
