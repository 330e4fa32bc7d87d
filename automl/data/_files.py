"""User data files: ``.npz`` (named arrays, ours or ``keras.datasets``'s), ``.npy`` (``x.npy``
beside ``y.npy``) and ``.csv`` (a label column). NumPy files are memory-mapped (:mod:`._mapped`)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from automl.data._mapped import map_npy, map_npz
from automl.errors import DataError

__all__ = ["read_npz", "read_npy", "read_csv", "read_table_csv", "split_labels"]

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def read_npz(path: Path) -> tuple[Arrays, tuple[np.ndarray, np.ndarray] | None]:
    """The training pair ``x``/``y`` or, as ``keras.datasets`` names them, ``x_train``/``y_train``
    (required), ``x_test``/``y_test`` and ``x_val``/``y_val`` (optional). Stored arrays
    (``np.savez``) are memory-mapped, compressed ones read whole."""
    arrays = map_npz(path)
    x, y = _training_names(path, arrays)
    for a, b in (("x_test", "y_test"), ("x_val", "y_val")):
        if (a in arrays) != (b in arrays):
            raise DataError(f"{path}: {a!r} and {b!r} must be given together")
    val = (arrays["x_val"], arrays["y_val"]) if "x_val" in arrays else None
    return (arrays[x], arrays[y], arrays.get("x_test"), arrays.get("y_test")), val


def read_npy(path: Path) -> tuple[Arrays, tuple[np.ndarray, np.ndarray] | None]:
    """The samples ``x.npy`` (or ``x_train.npy``) and, beside them, their labels ``y.npy``
    (``y_train.npy``) and optionally ``x_test.npy``/``y_test.npy``, ``x_val.npy``/``y_val.npy``;
    all memory-mapped (a .npy file holds one array: the names pair them)."""
    if path.stem not in ("x", "x_train"):
        raise DataError(f"{path}: a .npy file holds one array; name the samples x.npy (or x_train.npy) with their "
                        f"labels in y.npy (y_train.npy) beside them, and optionally x_val.npy/y_val.npy and "
                        f"x_test.npy/y_test.npy there too")
    labels = path.with_name("y" + path.stem[1:] + ".npy")
    if not labels.is_file():
        raise DataError(f"{path}: no labels beside it; save them as {labels}")
    found = {}
    for part in ("test", "val"):
        xp, yp = path.with_name(f"x_{part}.npy"), path.with_name(f"y_{part}.npy")
        if xp.is_file() != yp.is_file():
            raise DataError(f"{path.parent}: {xp.name} and {yp.name} must be given together")
        found[part] = (map_npy(xp), map_npy(yp)) if xp.is_file() else None
    test, val = found["test"], found["val"]
    return (map_npy(path), map_npy(labels), *(test or (None, None))), val


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


def label_columns(label_column: str | None, header: list[str]) -> list[str]:
    """The label column(s): ``a`` or ``a,b`` (several targets or labels), default ``label``
    where there is one, else the last column."""
    if label_column is None:
        return ["label" if "label" in header else header[-1]]
    return [c.strip() for c in label_column.split(",") if c.strip()]


def read_csv(path: Path, label_column: str | None) -> tuple[tuple[Any, ...], list[str], list[str]]:
    """A header row, feature columns and the label column(s) (default ``label``, else the
    last; ``a,b`` for several). Returns ``(table, y, None, None)`` (the features as a raw
    :class:`~automl.data._table.Table`, encoded once the splits are known), the feature
    columns' names and the label columns' names."""
    header, cells, lines = read_table_csv(path)
    return split_labels(header, cells, label_column, str(path), lines)


def split_labels(header: list[str], cells: np.ndarray, label_column: str | None, what: str,
                 lines: np.ndarray | None = None) -> tuple[tuple[Any, ...], list[str], list[str]]:
    """A table's cells split into its feature columns (a raw Table) and its labels, which
    keep their kind: numbers (an empty or ``NA`` cell is NaN), ``true``/``false``, or text."""
    from automl.data._table import Table

    labels = label_columns(label_column, header)
    missing = [c for c in labels if c not in header]
    if missing:
        raise DataError(f"{what}: no label column {missing[0]!r}; columns are {', '.join(header)}")
    if len(set(labels)) != len(labels):
        raise DataError(f"{what}: label column {labels!r} names a column twice")
    li = [header.index(c) for c in labels]
    features = [h for i, h in enumerate(header) if i not in li]
    if not features:
        raise DataError(f"{what}: needs at least one feature column besides {', '.join(map(repr, labels))}")
    fi = [header.index(c) for c in features]
    y = _label_values(cells[:, li])
    return (Table(features, cells[:, fi], lines), y[:, 0] if len(labels) == 1 else y, None, None), features, labels


def read_table_csv(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A CSV file's header, its cells as text ``(n, columns)`` and each row's line number."""
    header, rows = _read_rows(path)
    return header, np.char.strip(np.array([row for _, row in rows], dtype=str)), np.array([n for n, _ in rows])


def read_features_csv(path: Path, features: list[str]) -> np.ndarray:
    """The columns ``features`` of a CSV file (any others, a label among them, are left out)."""
    header, rows = _read_rows(path)
    missing = [c for c in features if c not in header]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r}, which the model takes; it needs the columns "
                        f"{', '.join(features)}")
    fi = [header.index(c) for c in features]
    out = []
    for n, row in rows:
        try:
            out.append([float(row[i]) for i in fi])
        except ValueError:
            bad = next(row[i] for i in fi if not _is_float(row[i]))
            raise DataError(f"{path}, line {n}: {bad!r} is not a number") from None
    return np.asarray(out, dtype=np.float32).reshape(len(out), len(features))


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    if len(rows) < 2:
        raise DataError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    body = []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, line {n}: {len(row)} values but the header has {len(header)} columns")
        body.append((n, row))
    if not body:
        raise DataError(f"{path}: needs a header row and at least one data row")
    return header, body


_MISSING = ("", "NA", "N/A", "NaN", "nan", "?", "null", "None")


def _label_values(cells: np.ndarray) -> np.ndarray:
    """Label cells as numbers (missing ones NaN) when every present one is a number, as
    booleans when every one is true/false, else as text."""
    present = cells[~np.isin(cells, _MISSING)]
    if all(_is_float(v) for v in present.ravel()):
        return np.where(np.isin(cells, _MISSING), "nan", cells).astype(np.float64)
    lower = np.char.lower(cells)
    if np.isin(lower, ("true", "false")).all():
        return lower == "true"
    return cells


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True
