"""Data sets larger than memory on disk: a directory of ``.npy`` chunks or a Zarr store, opened as dask arrays.

A chunk directory holds one folder per array, ``X_train``, ``y_train`` and optionally ``X_valid``, ``y_valid``
(validation rows) and ``X_test``, ``y_test``, each with ``.npy`` files of consecutive rows, read in name order (the
rows of ``X_train``'s files, in that order, go with the rows of ``y_train``'s)::

    data/X_train/000000.npy  data/X_train/000001.npy ...
    data/y_train/000000.npy  data/y_train/000001.npy ...

:func:`save_chunks` writes one. A Zarr store holds arrays of those names. Nothing is read when opening but the
files' headers (never with pickle: object arrays are refused); each chunk becomes one block that training reads
when it needs it. Opening needs Dask (``pip install -e ".[distributed]"``); Zarr stores need ``zarr`` too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PARTS = ("train", "valid", "test")


class ChunkedDataError(ValueError):
    """A chunk directory or Zarr store that cannot be read as a data set; the message names the file."""


def save_chunks(path: str | Path, X: np.ndarray, y: np.ndarray, *, rows_per_file: int, part: str = "train",
                append: bool = False) -> Path:
    """Write ``X`` and ``y`` into the chunk directory ``path`` (created if missing) as ``X_<part>/`` and
    ``y_<part>/`` files of ``rows_per_file`` rows, replacing that part's files, or after them with ``append=True``
    (data made piece by piece, never whole in memory); call it again for ``part="valid"`` or ``"test"``."""
    if part not in PARTS:
        raise ValueError(f"save_chunks: part must be one of {PARTS}, got {part!r}")
    if len(X) != len(y):
        raise ValueError(f"save_chunks: X has {len(X)} rows but y has {len(y)}")
    if rows_per_file < 1:
        raise ValueError(f"save_chunks: rows_per_file must be at least 1, got {rows_per_file!r}")
    root = Path(path)
    for name, array in ((f"X_{part}", X), (f"y_{part}", y)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(folder.glob("*.npy"))
        if not append:
            for stale in existing:
                stale.unlink()
        first = len(existing) if append else 0  # save_chunks numbers files from 0
        for number, begin in enumerate(range(0, len(array), rows_per_file), start=first):
            np.save(folder / f"{number:06d}.npy", np.ascontiguousarray(array[begin:begin + rows_per_file]))
    return root


def open_chunked(path: str | Path) -> dict[str, tuple[Any, Any]]:
    """``{"train": (X, y), "valid": (X, y), "test": (X, y)}`` (the last two when present) as dask arrays chunked
    by rows, from a chunk directory or a Zarr store (a directory with ``zarr.json`` or ``.zgroup``)."""
    from ..distributed import require_dask

    require_dask()
    root = Path(path)
    if not root.is_dir():
        raise ChunkedDataError(f"{root}: not a directory; expected a chunk directory (X_train/, y_train/ of .npy "
                               "files) or a Zarr store")
    if (root / "zarr.json").exists() or (root / ".zgroup").exists():
        group = _zarr_module().open_group(str(root), mode="r")
        has, opener = (lambda name: name in group), (lambda name: _zarr_array(group, root, name))
    else:
        has, opener = (lambda name: (root / name).is_dir()), (lambda name: _npy_stack(root, name))
    parts = {}
    for part in PARTS:
        names = (f"X_{part}", f"y_{part}")
        present = [has(name) for name in names]
        if not any(present):
            continue
        if not all(present):
            missing = names[present.index(False)]
            raise ChunkedDataError(f"{root}: has {names[present.index(True)]} but no {missing}")
        X, y = (opener(name) for name in names)
        if len(X) != len(y):
            raise ChunkedDataError(f"{root}: {names[0]} has {len(X)} rows but {names[1]} has {len(y)}")
        parts[part] = (X, y)
    if "train" not in parts:
        raise ChunkedDataError(f"{root}: no X_train and y_train in it (a chunk directory holds X_train/ and y_train/ "
                               "folders of .npy files; a Zarr store, arrays of those names)")
    return parts


def _npy_stack(root: Path, name: str) -> Any:
    """The ``.npy`` files of ``root/name`` as one dask array, one block per file, after checking their headers."""
    import dask
    import dask.array as da

    files = sorted((root / name).glob("*.npy"))
    if not files:
        raise ChunkedDataError(f"{root / name}: no .npy files")
    blocks, first = [], None
    for file in files:
        shape, dtype = _npy_header(file)
        if first is None:
            first = (shape[1:], dtype)
        if (shape[1:], dtype) != first:
            raise ChunkedDataError(f"{file}: rows of shape {shape[1:]} and dtype {dtype}, but {files[0].name} has "
                                   f"{first[0]} and {first[1]}")
        blocks.append(da.from_delayed(dask.delayed(_load_npy)(str(file)), shape, dtype=dtype))
    return da.concatenate(blocks)


def _npy_header(file: Path) -> tuple[tuple[int, ...], np.dtype]:
    try:
        with open(file, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(handle)
    except (OSError, ValueError) as exc:
        raise ChunkedDataError(f"{file}: not a readable .npy file: {exc}") from None
    if dtype.hasobject or not shape:
        raise ChunkedDataError(f"{file}: expected an array of numbers with rows, got dtype {dtype} and shape {shape}")
    return shape, dtype


def _load_npy(file: str) -> np.ndarray:
    return np.load(file, allow_pickle=False)


def _zarr_module() -> Any:
    try:
        import zarr
    except ImportError:
        raise ChunkedDataError('reading a Zarr store needs zarr: pip install -e ".[distributed]"') from None
    return zarr


def _zarr_array(group: Any, root: Path, name: str) -> Any:
    import dask.array as da

    array = group[name]
    if array.dtype.hasobject or not array.shape:
        raise ChunkedDataError(f"{root}/{name}: expected an array of numbers with rows, got dtype {array.dtype} and "
                               f"shape {array.shape}")
    return da.from_zarr(array)
