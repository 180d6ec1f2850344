"""Builders for the disclosure tests: register-like records with known cell counts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bif_lib.disclosure import draw_record_keys


def records_with_counts(cell_counts: np.ndarray, *, seed: int) -> pd.DataFrame:
    """One record per unit of ``cell_counts[c]`` in cell ``c`` (column ``cell``), shuffled, with keys."""
    cells = np.repeat(np.arange(len(cell_counts)), cell_counts)
    rng = np.random.default_rng(seed)
    cells = cells[rng.permutation(len(cells))]
    return pd.DataFrame({"person_id": np.arange(len(cells)), "cell": cells,
                         "record_key": draw_record_keys(len(cells), seed=seed)})


def register(rows: int, *, seed: int, districts: int = 13) -> pd.DataFrame:
    """Register-like persons: district, single age 0–100, sex m/w, a benefit amount; with record keys."""
    rng = np.random.default_rng(seed)
    age = np.minimum(rng.gamma(4.0, 11.0, rows).astype(np.int64), 100)
    return pd.DataFrame({
        "person_id": np.arange(1, rows + 1),
        "district_id": rng.integers(1, districts + 1, rows),
        "age": age,
        "agegroup": pd.array(np.select([age < 18, age < 65, age < 80], ["0-17", "18-64", "65-79"], "80+"), dtype="str"),
        "sex": pd.array(rng.choice(["m", "w"], rows), dtype="str"),
        "benefit": np.round(rng.gamma(2.0, 350.0, rows)),
        "record_key": draw_record_keys(rows, seed=seed + 1),
    })
