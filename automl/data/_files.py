"""User data files: ``.npz`` (named arrays, ours or ``keras.datasets``'s) and ``.csv`` (a label column)."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from automl.errors import DataError

__all__ = ["read_npz", "read_csv"]

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def read_npz(path: Path) -> tuple[Arrays, tuple[np.ndarray, np.ndarray] | None]:
    """The training pair ``x``/``y`` or, as ``keras.datasets`` names them, ``x_train``/``y_train``
    (required), ``x_test``/``y_test`` and ``x_val``/``y_val`` (optional)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    x, y = _training_names(path, arrays)
    for a, b in (("x_test", "y_test"), ("x_val", "y_val")):
        if (a in arrays) != (b in arrays):
            raise DataError(f"{path}: {a!r} and {b!r} must be given together")
    val = (arrays["x_val"], arrays["y_val"]) if "x_val" in arrays else None
    return (arrays[x], arrays[y], arrays.get("x_test"), arrays.get("y_test")), val


_EXPECTED = "expected x, y or x_train, y_train (as keras.datasets names them)[, x_test, y_test][, x_val, y_val]"


def _training_names(path: Path, arrays: dict[str, np.ndarray]) -> tuple[str, str]:
    """Which pair holds the training samples: ``x``/``y`` or Keras's ``x_train``/``y_train``,
    never a mix of the two (which array would be the training set is anyone's guess)."""
    plain = [k for k in ("x", "y") if k in arrays]
    keras = [k for k in ("x_train", "y_train") if k in arrays]
    if plain and keras:
        raise DataError(f"{path}: holds both {' and '.join(map(repr, plain))} and {' and '.join(map(repr, keras))}, "
                        f"so which is the training set is ambiguous; keep one pair (x, y or x_train, y_train)")
    names = ("x_train", "y_train") if keras else ("x", "y")
    missing = [k for k in names if k not in arrays]
    if missing:
        raise DataError(f"{path}: missing array {' and '.join(map(repr, missing))}; it holds "
                        f"{', '.join(map(repr, arrays)) or 'no arrays'} ({_EXPECTED})")
    return names


def read_csv(path: Path, label_column: str | None) -> Arrays:
    """A header row, numeric feature columns and one label column (default ``label``, else the last)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if len(rows) < 2:
        raise DataError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if label_column is None:
        label_column = "label" if "label" in header else header[-1]
    if label_column not in header:
        raise DataError(f"{path}: no label column {label_column!r}; columns are {', '.join(header)}")
    li = header.index(label_column)
    if len(header) < 2:
        raise DataError(f"{path}: needs at least one feature column besides {label_column!r}")
    xs, ys = [], []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, line {n}: {len(row)} values but the header has {len(header)} columns")
        try:
            values = [float(v) for v in row]
        except ValueError:
            bad = next(v for v in row if not _is_float(v))
            raise DataError(f"{path}, line {n}: {bad!r} is not a number") from None
        ys.append(values.pop(li))
        xs.append(values)
    return np.asarray(xs, dtype=np.float32), np.asarray(ys), None, None


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True
