"""Checks of what a training run is given, run before any work: settings and data, each error naming its field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ir import is_integer


class TrainingInputError(ValueError):
    """Training data or a fit setting that cannot work; ``field`` names it (``"X"``, ``"validation_split"``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def check_int(name: str, value: Any, low: int) -> int:
    """``value`` as an int after checking it is an integer ``>= low`` (bools are not integers here)."""
    if not is_integer(value) or value < low:
        raise TrainingInputError(name, f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a float after checking it is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
            or not 0.0 <= value < 1.0:
        raise TrainingInputError(name, f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_learning_rate(value: Any) -> float:
    """``value`` as a float after checking it is a positive finite number."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = math.nan
    if not (rate > 0.0 and math.isfinite(rate)):
        raise ValueError(f"learning rate must be a positive finite number, got {value!r}")
    return rate


def check_finite(name: str, array: np.ndarray, first_row: int = 0) -> None:
    """Raise :class:`TrainingInputError` naming the first non-finite entry of a float ``array`` (nan or inf); row
    numbers count from ``first_row`` (a block of a larger array)."""
    if array.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        shown = (first[0] + first_row,) + first[1:]
        where = ", ".join(f"{axis} {i}" for axis, i in zip(("row", "column"), shown)) if len(first) <= 2 \
            else f"index {shown}"
        count = int(bad.sum())
        raise TrainingInputError(name, f"{name} contains {array[first]} at {where} ({count} non-finite "
                                 f"value{'s' if count > 1 else ''} in all); remove or fill them before training")


def held_out_rows(rows: int, validation_split: float) -> int:
    """How many of ``rows`` rows ``validation_split`` holds out (at least one when it is positive); raises
    :class:`TrainingInputError` when none would be left to train on."""
    held = max(1, int(round(validation_split * rows))) if validation_split > 0 else 0
    if held >= rows:
        raise TrainingInputError("validation_split", f"no training rows left: {rows} rows given, validation_split="
                        f"{validation_split:g} holds out {held}, leaving {rows - held}; give more rows or a smaller "
                        "validation_split")
    return held
