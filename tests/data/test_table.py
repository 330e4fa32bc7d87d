"""Tables: column kinds inferred and declared, their encoding fitted on the training split alone (nothing of the
validation or test rows leaks into it), missing cells, and DataFrames read without importing pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from automl.data import data_from_description, load_data
from automl.data._table import MAX_CATEGORIES, Table, encode, encoded_columns, fit_encoding, infer_kinds, input_norm
from automl.errors import DataError


def _table(**cols: list[str]) -> Table:
    return Table(list(cols), np.array(list(zip(*cols.values(), strict=True)), dtype=str))


def test_kinds_are_inferred_from_the_cells_and_missing_spellings_are_missing() -> None:
    t = _table(n=["1", "NA", "2.5", "?", ""], b=["true", "FALSE", "", "True", "n/a"], c=["x", "y", "3", "", "None"])
    assert infer_kinds(t, "t") == {"n": "numeric", "b": "boolean", "c": "categorical"}
    # Declared kinds win: a number read as a category, a column left out.
    assert infer_kinds(t, "t", categorical=["n"], ignore=["b"]) == {"n": "categorical", "b": "ignored",
                                                                    "c": "categorical"}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"numeric": ["c"]}, "column 'c' is declared numeric but holds 'x' (row 0)"),
    ({"categorical": ["zz"]}, "no column 'zz' (declared categorical); its feature columns are n, c"),
    ({"categorical": ["n"], "numeric": ["n"]}, "column 'n' is declared both categorical and numeric"),
    ({"ignore": ["n", "c"]}, "every feature column is ignored"),
    ({"ignore": ["y"]}, "'y' is the label column"),
])
def test_declarations_are_checked_by_name(kwargs: dict[str, list[str]], message: str) -> None:
    t = _table(n=["1", "2", "3"], c=["x", "2", "y"])
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        infer_kinds(t, "t", labels=["y"], **kwargs)


def test_too_many_categories_and_empty_columns_are_refused_naming_the_column() -> None:
    many = _table(id=[f"u{i}" for i in range(MAX_CATEGORIES + 1)])
    with pytest.raises(DataError, match=r"column 'id' holds 101 distinct values, more than 100 .* --ignore id"):
        infer_kinds(many, "t")
    assert infer_kinds(_table(id=[f"u{i % MAX_CATEGORIES}" for i in range(300)]), "t") == {"id": "categorical"}
    with pytest.raises(DataError, match="column 'e' is empty"):
        infer_kinds(_table(e=["", "NA", "?"]), "t")


def test_encoding_one_hot_with_missing_and_other_buckets_and_numbers_filled_by_the_mean() -> None:
    train = _table(n=["1", "3", "NA"], b=["true", "false", "true"], c=["x", "y", ""])
    spec = fit_encoding(train, infer_kinds(train, "t"))
    assert encoded_columns(spec) == ["n", "n_missing", "b", "c=x", "c=y", "c=<missing>", "c=<other>"]
    new = _table(n=["5", "?"], b=["FALSE", "TRUE"], c=["never seen", "y"])
    np.testing.assert_array_equal(encode(new, spec, "new"), [[5, 0, 0, 0, 0, 0, 1], [2, 1, 1, 0, 1, 0, 0]])
    np.testing.assert_array_equal(encode(train, spec, "t")[2], [2, 1, 1, 0, 0, 1, 0])
    # The model standardizes numeric values only: mean 2, variance 1 (of 1 and 3); the rest pass unchanged.
    norm = input_norm(spec)
    assert norm["mean"] == [2.0, 0, 0, 0, 0, 0, 0] and norm["variance"] == [1.0, 1, 1, 1, 1, 1, 1]
    with pytest.raises(DataError, match=r"column 'n' is numeric but holds 'abc' \(row 1\)"):
        encode(_table(n=["1", "abc"], b=["true", "true"], c=["x", "x"]), spec, "new")


def test_a_column_without_missing_training_values_gets_no_indicator_and_a_constant_one_is_not_scaled() -> None:
    train = _table(n=["4", "4"], m=["1", "2"])
    spec = fit_encoding(train, infer_kinds(train, "t"))
    assert encoded_columns(spec) == ["n", "m"]
    assert input_norm(spec) == {"mean": [4.0, 1.5], "variance": [1.0, 0.25]}
    np.testing.assert_array_equal(encode(_table(n=["NA", "5"], m=["", "2"]), spec, "new"), [[4, 1.5], [5, 2]])


def _write_leaky(path: Path, n: int = 100) -> None:
    # v is the row number, so the encoded training rows name which rows the training split holds; 30 rows have a
    # city of their own, so some cities are in the validation or test split only.
    lines = ["v,city,label"]
    for i in range(n):
        city = f"c{i}" if i < 30 else "common"
        lines.append(f"{i},{city},{'a' if i % 2 else 'b'}")
    path.write_text("\n".join(lines) + "\n")


def test_the_encoding_is_fitted_on_the_training_split_alone(tmp_path: Path) -> None:
    _write_leaky(tmp_path / "t.csv")
    d = load_data(tmp_path / "t.csv", val_split=0.25, test_split=0.2, seed=3)
    table = d.options["table"]
    rows = d.x_train[:, 0].astype(int)  # column 0 is v, unscaled: the row numbers of the training split
    assert len(rows) == len(d.y_train) and d.x_test is not None
    v, city = table["columns"]
    assert v["mean"] == pytest.approx(rows.mean()) and v["mean"] != pytest.approx(49.5)
    assert v["std"] == pytest.approx(rows.std())
    train_cities = {f"c{i}" if i < 30 else "common" for i in rows}
    assert city["vocabulary"] == sorted(train_cities)
    # A held-out row of a city the training rows never held is <other>, never a column of its own.
    other = encoded_columns(table).index("city=<other>")
    for x in (d.x_val, d.x_test):
        held = x[:, 0].astype(int)
        unseen = np.array([i < 30 and f"c{i}" not in train_cities for i in held])
        assert unseen.any()
        np.testing.assert_array_equal(x[:, other], unseen.astype(np.float32))
    assert d.x_train[:, other].sum() == 0
    # The model's standardization is the training split's.
    assert d.head()["inputs"]["mean"][0] == pytest.approx(rows.mean())  # type: ignore[index]


def test_reloading_a_study_encodes_as_it_did_and_other_data_by_the_recorded_vocabulary(tmp_path: Path) -> None:
    _write_leaky(tmp_path / "t.csv")
    d = load_data(tmp_path / "t.csv", test_split=0.2)
    again = data_from_description(d.describe())
    np.testing.assert_array_equal(again.x_train, d.x_train)
    assert again.options["table"] == d.options["table"]
    # Other data (evaluate --data): the study's columns, vocabulary and statistics, not the new file's.
    (tmp_path / "o.csv").write_text("label,city,v,extra\n" + "".join(f"{'ab'[i % 2]},new{i},{i},x\n"
                                                                     for i in range(30)))
    other = data_from_description(d.describe(), tmp_path / "o.csv")
    assert other.options["table"] == d.options["table"] and other.input_shape == d.input_shape
    cols = encoded_columns(d.options["table"])
    assert (other.x_train[:, cols.index("city=<other>")] == 1).all()


def test_kind_flags_apply_to_tables_only() -> None:
    with pytest.raises(DataError, match="apply to tables"):
        load_data("digits", categorical="a")


def test_a_pandas_dataframe_is_a_table_with_its_label_column() -> None:
    pd = pytest.importorskip("pandas")
    n = 60
    df = pd.DataFrame({"island": ["Biscoe", "Dream", None] * (n // 3), "bill": [float(i) if i % 7 else np.nan
                                                                               for i in range(n)],
                       "flag": [True, False] * (n // 2), "count": list(range(n)),
                       "species": ["Adelie", "Gentoo", "Adelie"] * (n // 3)})
    d = load_data(df, label_column="species")
    kinds = {c["name"]: c["kind"] for c in d.options["table"]["columns"]}
    assert kinds == {"island": "categorical", "bill": "numeric", "flag": "boolean", "count": "numeric"}
    assert d.task == "binary" and d.options["class_names"] == ["Adelie", "Gentoo"]
    assert d.name == "table" and d.options["table"]["columns"][1]["indicator"]
    assert d.options["table"]["columns"][0]["vocabulary"] == ["Biscoe", "Dream"]  # None is missing
    # The same columns as a dict of lists: the same data.
    same = load_data({k: df[k].tolist() for k in df.columns}, label_column="species")
    np.testing.assert_array_equal(same.x_train, d.x_train)
    with pytest.raises(DataError, match="this study was run on in-memory arrays"):
        data_from_description(d.describe())
    assert data_from_description(d.describe(), df).options["table"] == d.options["table"]
