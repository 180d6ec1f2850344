"""Sub-districts (the profile's optional lower level): where inside its district a household lives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bif_lib.synthetic.totals import TotalsError


@dataclass(frozen=True)
class Geography:
    """Sub-districts with their district and the weight of their share of residents.

    Without a lower level every district is its own single sub-district (id missing, weight 1).
    """

    bezirk_ids: np.ndarray  # str (None without a lower level)
    bezirk_district: np.ndarray  # int64
    bezirk_weight: np.ndarray  # float
    weight_column: str

    @classmethod
    def from_table(cls, subdistricts: pd.DataFrame | None, district_ids: np.ndarray,
                   district_label: str = "Bezirk") -> Geography:
        """``subdistricts``: subdistrict_id, district_id, weight (``attrs["weight"]`` names its origin)."""
        if subdistricts is None:
            return cls(bezirk_ids=np.full(len(district_ids), None, dtype=object),
                       bezirk_district=np.asarray(district_ids, dtype=np.int64),
                       bezirk_weight=np.ones(len(district_ids)), weight_column="none")
        table = subdistricts.sort_values("subdistrict_id", ignore_index=True)
        geography = cls(
            bezirk_ids=table["subdistrict_id"].astype(str).to_numpy(dtype=object),
            bezirk_district=table["district_id"].to_numpy(dtype="int64"),
            bezirk_weight=table["weight"].to_numpy(dtype=float),
            weight_column=subdistricts.attrs.get("weight", "weight"),
        )
        dataset = subdistricts.attrs.get("dataset", "subdistricts")
        without = sorted(set(np.asarray(district_ids).tolist()) - set(geography.bezirk_district.tolist()))
        if without:
            raise TotalsError(f"Datensatz „{dataset}“: kein Teilgebiet für {district_label} "
                              f"{', '.join(map(str, without))}.")
        if (geography.bezirk_weight <= 0).any() or not np.isfinite(geography.bezirk_weight).all():
            raise TotalsError(f"Datensatz „{dataset}“: die Gewichte der Teilgebiete ({geography.weight_column}) "
                              "müssen positiv sein.")
        return geography

    def draw(self, district_id: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A sub-district (row index) inside the given district for each item, drawn by weight."""
        bezirk = np.empty(len(district_id), dtype=np.int64)
        for district in np.unique(district_id):
            items = np.flatnonzero(district_id == district)
            options = np.flatnonzero(self.bezirk_district == district)
            weights = self.bezirk_weight[options]
            bezirk[items] = rng.choice(options, size=len(items), p=weights / weights.sum())
        return bezirk
