"""``load_data``: one entry point for built-in names, files and in-memory arrays."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Union

import numpy as np

from automl._logging import get_logger
from automl.data._builtin import BUILTIN, builtin_classes, load_builtin
from automl.data._dataset import Dataset, split, validate_features
from automl.data._files import read_csv, read_npy, read_npz, split_labels
from automl.data._images import check_color_mode, parse_image_size, read_image_folder
from automl.data._keras_datasets import KERAS_DATASETS, load_keras_dataset
from automl.data._mapped import as_rows
from automl.data._labels import Labels, encode_labels, target_stats
from automl.data._table import (
    Table,
    column_list,
    encode,
    feature_names,
    fit_encoding,
    infer_kinds,
    is_frame,
    pick_columns,
    table_from_frame,
)
from automl.errors import DataError

__all__ = ["DataSpec", "load_data", "data_from_description"]

DataSpec = Union[str, Path, Dataset, tuple, Any]  # Any: a DataFrame (or a dict of columns)
_log = get_logger("data")


def load_data(data: DataSpec = "digits", *, val_split: float = 0.2, test_split: float = 0.0, seed: int = 0,
              label_column: str | None = None, num_classes: int | None = None,
              image_size: str | tuple[int, int] | list[int] | None = None, color_mode: str | None = None,
              task: str | None = None, class_names: list[str] | None = None, categorical: Any = None,
              numeric: Any = None, ignore: Any = None, table: dict[str, Any] | None = None) -> Dataset:
    """Load and check a dataset, then split it.

    ``data`` is a built-in name (``digits``, ``digits2d``, ``mnist1d``,
    ``synthetic:SHAPE[:CLASSES[:N]]``), a ``keras.datasets`` name (``mnist``,
    ``fashion_mnist``, ``cifar10``, ``cifar100``: read from Keras's cache), a ``.npz``,
    ``.npy`` (``x.npy`` beside ``y.npy``; NumPy files are memory-mapped) or ``.csv`` path
    (``label_column`` ``a`` or ``a,b``), a pandas DataFrame or a dict of columns
    (``label_column`` names the label), a folder of images with one sub-folder per
    class (``image_size`` ``"HxW"`` resizes them, ``color_mode`` ``rgb`` or ``grayscale``),
    a ``(x, y)`` tuple or a :class:`Dataset`. Pixel values are scaled to [0, 1], ``digits``
    divided by 16 (``options["scaled"]``: an exported model does it itself).

    A table's (CSV, DataFrame) feature columns are numeric, boolean or categorical,
    inferred or declared (``categorical``, ``numeric``: names, as ``"a,b"`` or a list;
    ``ignore``: columns left out), and encoded by what the training split holds
    (docs/data.md, "Tables"); the encoding is kept in ``options["table"]``. ``table`` (a
    study's) encodes the rows as that study did. A test split comes from the data where it has one (``x_test``), else
    ``test_split`` of the samples is taken first; it is never used by the search. The
    validation split is ``x_val`` where given, else ``val_split`` of the samples left
    after the test split.

    ``task`` (``classification``, ``binary``, ``multilabel``, ``regression``) is inferred
    from the labels when not given (docs/data.md, "Tasks"); ``num_classes`` (declared by
    the space) makes it classification with labels below it. Text and boolean labels are
    encoded, their names kept in ``options["class_names"]``; regression targets keep their
    units, with their training-split mean and std in ``options``. ``class_names`` (a
    study's) encode text labels as that study did. Raises :class:`DataError`.
    """
    if isinstance(data, Dataset):
        return data
    if not 0.0 <= test_split < 1.0:
        raise DataError(f"test_split must be ≥ 0 and below 1 (got {test_split})")
    options: dict[str, Any] = {"val_split": val_split, "test_split": test_split, "seed": seed}
    val: tuple[np.ndarray, np.ndarray] | None = None
    names: list[str] | None = None
    if isinstance(data, tuple):
        if len(data) != 2:
            raise DataError("in-memory data is a tuple (x, y)")
        _image_options_only_for_folders("arrays", False, image_size, color_mode)
        arrays: tuple[Any, ...] = (data[0], data[1], None, None)
        name = source = "arrays"
        what = "the labels y"
    elif is_frame(data):
        _image_options_only_for_folders("a table", False, image_size, color_mode)
        header, cells = table_from_frame(data)
        arrays, features, names = split_labels(header, cells, label_column, "the table")
        options.update(label_column=label_column, label_columns=names, feature_columns=features)
        name, source = "table", "arrays"  # not reloadable: a study of it is continued with the table again
        what = f"the table: label column{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}"
    else:
        source = str(data)
        arrays, name, source, val, declared = _read(source, options, label_column, image_size, color_mode)
        if num_classes is None:
            num_classes = declared
        names = options.get("label_columns")
        what = (f"{name}: label column{'s' if len(names) > 1 else ''} {', '.join(map(repr, names))}" if names
                else f"the labels of {name}")
    raw = arrays[0] if isinstance(arrays[0], Table) else None
    where = "the table" if source == "arrays" else str(data)
    kinds = None
    if raw is None:
        if any(v is not None for v in (categorical, numeric, ignore)):
            raise DataError(f"categorical, numeric and ignore (--categorical, --numeric, --ignore) apply to tables "
                            f"(a .csv file or a DataFrame), and {name!r} is not one")
        x = as_rows(validate_features(arrays[0], arrays[1], name))  # a memory map stays one, read as used
    else:
        if table is None:
            kinds = infer_kinds(raw, where, categorical=column_list(categorical, "categorical"),
                                numeric=column_list(numeric, "numeric"), ignore=column_list(ignore, "ignore"),
                                labels=names or ())
        else:
            raw = pick_columns(raw.columns, raw.cells, feature_names(table), where, raw.lines)
        # Row numbers stand for the rows until the splits are known: the encoding is fitted on the training split.
        x = np.arange(len(raw.cells), dtype=np.int64)[:, None]
    x_test = x_val = None
    if arrays[2] is not None:
        x_test = as_rows(validate_features(arrays[2], arrays[3], f"{name} (test)"))
    if val is not None:
        x_val = as_rows(validate_features(val[0], val[1], f"{name} (validation)"))
    hinted = task is None and num_classes is None and isinstance(data, (str, Path)) and _of_classes(str(data), options)
    if hinted:  # image folders and named datasets hold classes, however few images each has
        task = "binary" if len(options.get("class_names") or []) == 2 else "classification"
    # Before splitting: a stratified split counts the labels, 10^9 of them for a label of 10^9.
    labels = encode_labels([arrays[1], None if val is None else val[1], arrays[3]], what, task=task,
                           num_classes=num_classes, names=names, class_names=class_names)
    if hinted:
        labels.reason = "an image folder's classes" if "class_names" in options else f"the classes of {name}"
    y_train, y_val, y_test = labels.y
    assert y_train is not None  # the training labels are always given
    y = y_train
    options.update(_label_options(labels, options.get("class_names")))
    if x_test is None and test_split > 0:
        x, y, x_test, y_test = split(x, y, test_split, seed, "the test split")
    if x_val is None or y_val is None:
        x, y, x_val, y_val = split(x, y, val_split, seed + 1, "the validation split")
    for part, xp in (("validation", x_val), ("test", x_test)):
        if xp is not None and xp.shape[1:] != x.shape[1:]:
            raise DataError(f"{name}: {part} samples have shape {xp.shape[1:]} but training samples "
                            f"{x.shape[1:]}")
    if raw is not None:
        x, x_val, x_test = _encode_splits(raw, (x, x_val, x_test), kinds, table, where, options)
    if labels.task == "regression":
        options["target_mean"], options["target_std"] = target_stats(y, what)
    ds = Dataset(name, x, y, x_val, y_val, labels.num_classes, x_test, y_test, source=source, options=options,
                 task=labels.task, task_reason=labels.reason)
    _log.debug("data %s: train %s, val %s, task %s, %d classes/outputs", name, x.shape, x_val.shape, labels.task,
               labels.num_classes)
    return ds


def _encode_splits(raw: Table, rows: tuple[Any, Any, Any], kinds: dict[str, str] | None,
                   table: dict[str, Any] | None, what: str, options: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Each split's rows (row numbers into ``raw``) encoded: by ``table`` (a study's), or by
    an encoding fitted on the training split's rows alone (what is recorded in ``options``)."""
    def part(idx: np.ndarray) -> Table:
        r = idx[:, 0]
        return Table(raw.columns, raw.cells[r], None if raw.lines is None else raw.lines[r])

    if table is None:
        assert kinds is not None
        table = fit_encoding(part(rows[0]), kinds)
    options.update(table=table, feature_columns=feature_names(table))
    return tuple(None if r is None else encode(part(r), table, what) for r in rows)  # type: ignore[return-value]


def _label_options(labels: Labels, folder_names: list[str] | None) -> dict[str, Any]:
    """What of the labels is recorded with the study: the task as declared or inferred (so
    that reloading the data gives the same one), and the names of encoded classes."""
    out: dict[str, Any] = {"task": labels.task}
    if labels.class_names is not None:
        # An image folder's labels are the positions of its class names: name them by those.
        out["class_names"] = [folder_names[int(v)] for v in labels.class_names] if folder_names else \
            labels.class_names
    return out


def _read(source: str, options: dict[str, Any], label_column: str | None, image_size: Any,
          color_mode: Any) -> tuple[tuple[Any, ...], str, str, tuple[np.ndarray, np.ndarray] | None, int | None]:
    """``(arrays, name, source, validation pair, declared class count)`` of a named dataset,
    a file or an image folder; what to record of it goes into ``options``."""
    path = Path(source)
    folder = _is_folder(source)
    _image_options_only_for_folders(source, folder, image_size, color_mode)
    if source in KERAS_DATASETS:
        arrays, extra, classes = load_keras_dataset(source)
        options.update(extra)
        return arrays, source, source, None, classes
    builtin = load_builtin(source) if path.suffix not in _FILES and not folder else None
    if builtin is not None:
        if source in ("digits", "digits2d"):
            options.update(scaled="values / 16")
        return builtin, source, source, None, builtin_classes(source)
    if folder:
        size, mode = parse_image_size(image_size), check_color_mode(color_mode)
        x, y, class_names = read_image_folder(path.resolve(), size, mode)
        options.update(image_size=None if size is None else list(size), color_mode=mode, class_names=class_names,
                       scaled="pixels / 255")
        return (x, y, None, None), path.resolve().name, str(path.resolve()), None, None
    if path.suffix not in _FILES:
        raise DataError(f"unknown data {source!r}: use a built-in ({', '.join(BUILTIN)}), a keras.datasets name "
                        f"({', '.join(KERAS_DATASETS)}), a .npz, .npy (x.npy beside y.npy) or .csv file, or a folder "
                        f"of images with one sub-folder per class")
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    val = None
    if path.suffix == ".npz":
        arrays, val = read_npz(path)
    elif path.suffix == ".npy":  # x.npy: the data is named after its folder
        arrays, val = read_npy(path)
        return arrays, path.resolve().parent.name, str(path.resolve()), val, None
    else:
        arrays, features, labels = read_csv(path, label_column)
        options.update(label_column=label_column, label_columns=labels, feature_columns=features)
    return arrays, path.stem, str(path.resolve()), val, None


_FILES = (".npz", ".npy", ".csv")


def _of_classes(source: str, options: dict[str, Any]) -> bool:
    """Whether the data's labels are classes by what it is (not by their values)."""
    return source in KERAS_DATASETS or _builtin_name(source) or "class_names" in options


def _is_folder(source: Any) -> bool:
    """Whether ``source`` names an image folder: a name wins over a folder of that name in
    the working directory (write ./digits for that)."""
    return isinstance(source, str) and source not in KERAS_DATASETS and not _builtin_name(source) \
        and Path(source).is_dir()


def _builtin_name(source: str) -> bool:
    return source in ("digits", "digits2d", "mnist1d", "synthetic") or source.startswith("synthetic:")


def _image_options_only_for_folders(source: str, folder: bool, image_size: Any, color_mode: Any) -> None:
    if not folder and (image_size is not None or color_mode is not None):
        raise DataError(f"an image size and a color mode (--image-size, --color-mode) apply to image folders only, "
                        f"and {source!r} is not a folder")


def _declared_count(desc: dict[str, Any]) -> int | None:
    """The class count to reload with: classification's (it may count classes absent from
    the data), unless the classes were encoded from names (their count is theirs)."""
    if desc.get("task", "classification") != "classification" or desc.get("class_names"):
        return None
    return desc.get("num_classes")


def data_from_description(desc: dict[str, Any], data: DataSpec | None = None) -> Dataset:
    """Reload the data a study was run on, from the description stored with it; or load
    ``data`` instead (the same data found elsewhere, as ``automl worker --data`` does), split
    and counted as the study's was so that it can be the same."""
    if data is None and desc.get("source") in (None, "", "arrays"):
        raise DataError("this study was run on in-memory arrays; pass the data again (--data)")
    # The folder's image options apply to a folder only: other data (a .npz of the same
    # images) is read as it is.
    folder = data is None or _is_folder(data)
    return load_data(desc["source"] if data is None else data, val_split=desc.get("val_split", 0.2),
                     test_split=desc.get("test_split", 0.0), seed=desc.get("seed", 0),
                     label_column=desc.get("label_column"), num_classes=_declared_count(desc),
                     image_size=desc.get("image_size") if folder else None,
                     color_mode=desc.get("color_mode") if folder else None,
                     task=desc.get("task", "classification"), table=desc.get("table"),
                     # Encoded names (an image folder's are its folders, its labels their positions).
                     class_names=desc.get("class_names") if desc.get("color_mode") is None else None)
