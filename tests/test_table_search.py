"""A DataFrame searched through the Python API on both engines, then predicted from raw rows (class names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import automl
from tests.conftest import TINY_YAML


@pytest.mark.parametrize("engine", ["optuna", "kerastuner"])
def test_a_dataframe_with_text_labels_categoricals_and_missing_values_on_each_engine(tmp_path: Path,
                                                                                    engine: str) -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 120
    species = np.array(["Adelie", "Gentoo", "Chinstrap"])[np.arange(n) % 3]
    bill = np.where(species == "Adelie", 38.0, np.where(species == "Gentoo", 47.0, 49.0)) + rng.normal(0, 1, n)
    bill[::9] = np.nan
    df = pd.DataFrame({"island": np.where(species == "Gentoo", "Biscoe", "Dream"), "bill": bill,
                       "sex": rng.choice(["male", "female", None], n), "species": species})
    (tmp_path / "tiny.yaml").write_text(TINY_YAML)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    result = automl.search(str(tmp_path / "tiny.yaml"), df, label_column="species", engine=engine, n_trials=1,
                           epochs=2, storage=storage, study_name="peng", seed=0, categorical=["sex"])
    assert result.count("COMPLETE") == 1
    raw = pd.DataFrame({"sex": ["male", None], "bill": [38.0, np.nan], "island": ["Dream", "Atlantis"]})
    cols = automl.predict("peng", raw, storage=storage)
    assert set(cols) == {"prediction", "p_Adelie", "p_Chinstrap", "p_Gentoo"}
    assert set(cols["prediction"]) <= {"Adelie", "Chinstrap", "Gentoo"}
    np.testing.assert_allclose(cols["p_Adelie"] + cols["p_Chinstrap"] + cols["p_Gentoo"], 1.0, rtol=1e-5)
