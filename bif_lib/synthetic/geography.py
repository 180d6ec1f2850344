"""Statistische Bezirke: where inside its Stadtteil a household lives."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Geography:
    """Statistische Bezirke with their Stadtteil and the weight of their share of residents."""

    bezirk_ids: np.ndarray  # str
    bezirk_district: np.ndarray  # int64
    bezirk_weight: np.ndarray  # float
    weight_column: str

    @classmethod
    def from_table(cls, bezirke: pd.DataFrame, district_ids: np.ndarray) -> Geography:
        weight_column = "weight" if "weight" in bezirke.columns else "area_km2"
        table = bezirke.sort_values("bezirk_id", ignore_index=True)
        geography = cls(
            bezirk_ids=table["bezirk_id"].astype(str).to_numpy(dtype=object),
            bezirk_district=table["district_id"].to_numpy(dtype="int64"),
            bezirk_weight=table[weight_column].to_numpy(dtype=float),
            weight_column=weight_column,
        )
        without_bezirk = sorted(set(district_ids.tolist()) - set(geography.bezirk_district.tolist()))
        if without_bezirk:
            raise ValueError(f"Stadtteile without statistischer Bezirk: {without_bezirk}")
        if (geography.bezirk_weight <= 0).any():
            raise ValueError(f"Bezirk weights ({weight_column}) must be positive")
        return geography

    def draw(self, district_id: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A Bezirk (row index) inside the given Stadtteil for each item, drawn by weight."""
        bezirk = np.empty(len(district_id), dtype=np.int64)
        for district in np.unique(district_id):
            items = np.flatnonzero(district_id == district)
            options = np.flatnonzero(self.bezirk_district == district)
            weights = self.bezirk_weight[options]
            bezirk[items] = rng.choice(options, size=len(items), p=weights / weights.sum())
        return bezirk
