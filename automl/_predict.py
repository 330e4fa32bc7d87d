"""Predictions of a trial's model on new data, named as the study's labels: class names and
probabilities, 0/1 labels, or values in the targets' own units."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from automl.data._table import is_frame
from automl._keys import ATTR
from automl.errors import UsageError

__all__ = ["predict", "predict_study", "read_inputs", "predict_samples", "name_outputs", "write_csv"]


def read_inputs(data: Any, desc: dict[str, Any]) -> np.ndarray:
    """The samples to predict, as their source holds them (pixels 0..255; a ``.npy`` or
    ``.npz`` file mapped): an array, a ``.csv`` file (the study's feature columns by
    name; a label column may be there and is left out), a ``.npz`` (``x``, else ``x_test``,
    else ``x_train``) or a ``.npy`` file. A table's study (one with an encoding) also reads
    raw rows, from a ``.csv`` file, a DataFrame or a dict of columns, and encodes them as
    its training split's were."""
    from automl.data._dataset import validate_features
    from automl.data._files import label_columns, read_features_csv
    from automl.data._mapped import map_npy, map_npz
    from automl.errors import DataError

    table = desc.get("table")
    if table and (is_frame(data) or (isinstance(data, (str, Path)) and Path(data).suffix == ".csv")):
        return encode_rows(data, table)
    if not isinstance(data, (str, Path)):
        x = np.asarray(data)
        return validate_features(x, x, "the samples")
    path = Path(data)
    if not path.is_file():
        raise DataError(f"data file not found: {path} (predict reads a .csv, .npz or .npy file)")
    if path.suffix == ".csv":
        features = desc.get("feature_columns")
        if features is None:  # a study made before the columns were recorded: all but the label
            header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
            labels = label_columns(desc.get("label_column"), [h.strip() for h in header])
            features = [h.strip() for h in header if h.strip() not in labels]
        x = read_features_csv(path, list(features))
    elif path.suffix == ".npz":  # mapped, as a search maps them: never read whole
        arrays = map_npz(path)
        key = next((k for k in ("x", "x_test", "x_train") if k in arrays), None)
        if key is None:
            raise DataError(f"{path}: no array x (or x_test, x_train) to predict; it holds {', '.join(arrays)}")
        x = arrays[key]
    elif path.suffix == ".npy":
        x = map_npy(path)
    else:
        raise DataError(f"{path}: predict reads a .csv, .npz or .npy file")
    x = validate_features(x, x, str(path))
    want = tuple(desc.get("input_shape") or x.shape[1:])
    if x.shape[1:] != want:
        raise DataError(f"{path}: samples of shape {x.shape[1:]}, but the model takes {want}")
    return x


def predict_samples(model: Any, x: Any, desc: dict[str, Any]) -> np.ndarray:
    """The model's outputs for samples as their source holds them (pixels 0..255: divided
    here as the study's loader divided its own), a chunk of rows at a time (a mapped file
    is never read whole)."""
    from automl.data._dataset import divide, input_divisor
    from automl.data._mapped import as_float32, row_chunks

    divisor = input_divisor(desc)
    parts = [model.predict(divide(c, divisor) if divisor else as_float32(c), verbose=0) for c in row_chunks(x)]
    return np.concatenate(parts)


def encode_rows(data: Any, table: dict[str, Any]) -> np.ndarray:
    """Raw rows (a ``.csv`` file, a DataFrame, a dict of columns) encoded by a study's
    recorded table encoding: what its model (and an exported one) takes."""
    from automl.data._files import read_table_csv
    from automl.data._table import encode, feature_names, pick_columns, table_from_frame
    from automl.errors import DataError

    if is_frame(data):
        header, cells = table_from_frame(data)
        what, lines = "the table", None
    else:
        path = Path(data)
        if not path.is_file():
            raise DataError(f"data file not found: {path}")
        header, cells, lines = read_table_csv(path)
        what = str(path)
    return encode(pick_columns(header, cells, feature_names(table), what, lines), table, what)


def name_outputs(out: np.ndarray, desc: dict[str, Any]) -> dict[str, np.ndarray]:
    """The model's outputs as named columns: ``prediction`` (the class name) and ``p_NAME``
    for each class (classification, binary); ``NAME`` (0/1) and ``p_NAME`` per label
    (multi-label); one column per target, in its units (regression)."""
    task = desc.get("task", "classification")
    out = np.asarray(out, dtype=np.float64).reshape(len(out), -1)
    labels = desc.get("label_columns") or []
    if task == "regression":
        names = labels if len(labels) == out.shape[1] else \
            (["prediction"] if out.shape[1] == 1 else [f"target_{i}" for i in range(out.shape[1])])
        return {n: out[:, i] for i, n in enumerate(names)}
    if task == "multilabel":
        names = labels if len(labels) == out.shape[1] else [f"label_{i}" for i in range(out.shape[1])]
        cols: dict[str, np.ndarray] = {n: (out[:, i] > 0.5).astype(int) for i, n in enumerate(names)}
        cols.update({f"p_{n}": out[:, i] for i, n in enumerate(names)})
        return cols
    classes = desc.get("class_names") or [str(i) for i in range(max(out.shape[1], 2))]
    probs = np.concatenate([1.0 - out, out], axis=1) if task == "binary" else out
    cols = {"prediction": np.asarray(classes, dtype=object)[probs.argmax(axis=1)]}
    cols.update({f"p_{c}": probs[:, i] for i, c in enumerate(classes)})
    return cols


def predict_study(study: Any, url: str, data: Any, number: int | None = None, *,
                  backend: str | None = None) -> dict[str, np.ndarray]:
    """Predict ``data`` with trial ``number`` (default: the best) of ``study``, from its
    kept weights; the columns of :func:`name_outputs`."""
    from automl._export import trial_model

    desc = study.user_attrs.get(f"{ATTR}data")
    if not isinstance(desc, dict):
        raise UsageError(f"study {study.study_name!r} was not made by automl")
    x = read_inputs(data, desc)
    model, _, _ = trial_model(study, url, number, backend=backend)
    return name_outputs(predict_samples(model, x, desc), desc)


def predict(study: str, data: Any, *, storage: str | None = None, trial: int | None = None,
            backend: str | None = None) -> dict[str, np.ndarray]:
    """Predict ``data`` (an array, a ``.csv``/``.npz``/``.npy`` file, or for a table's study
    raw rows: a ``.csv`` file, a DataFrame or a dict of columns) with the best trial
    of ``study`` (or ``trial``): class names and probabilities, 0/1 labels, or values in
    the targets' own units, as named columns.

    Example::

        columns = automl.predict("houses", "new_houses.csv", storage="sqlite:///automl.db")
        columns["price"]  # in the price column's units
    """
    from automl.storage import load_study, open_storage, resolve_url

    url = resolve_url(storage)
    st = load_study(open_storage(url, must_exist=True), study)
    return predict_study(st, url, data, trial, backend=backend)


def write_csv(columns: dict[str, np.ndarray], path: Path) -> None:
    """The columns as a CSV file with a header row; each float in the fewest digits that
    read back as the same value of its own precision (a model's float32 output as
    ``326.89996``, not the float64 expansion ``326.89996337890625``)."""
    names = list(columns)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row in zip(*(columns[n] for n in names)):
            w.writerow([_number(v) for v in row])


def _number(v: Any) -> Any:
    if isinstance(v, np.floating):
        return str(v)  # NumPy's shortest round-trip form for the value's own precision
    return repr(v) if isinstance(v, float) else v
