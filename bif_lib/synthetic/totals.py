"""The published figures (Sozialatlas 2022, Bezirke geodata) the synthetic register is calibrated to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SIX_AGE_GROUPS = ("age_under_18", "age_18_to_under_30", "age_30_to_under_45", "age_45_to_under_65",
                  "age_65_to_under_80", "age_80_and_above")
DISTRICT_AGE_GROUPS = SIX_AGE_GROUPS + ("age_0_to_under_7", "age_60_and_above")

# Published age intervals [lower, upper); upper None = open-ended.
AGE_INTERVALS = {
    "age_under_18": (0, 18),
    "age_18_to_under_30": (18, 30),
    "age_30_to_under_45": (30, 45),
    "age_45_to_under_65": (45, 65),
    "age_65_to_under_80": (65, 80),
    "age_80_and_above": (80, None),
    "age_0_to_under_7": (0, 7),
    "age_60_and_above": (60, None),
}
BAND_INTERVALS = {
    "band_under_18": (0, 18),
    "band_18_to_under_65": (18, 65),
    "band_65_and_above": (65, None),
}

SOZIALATLAS_FILES = {
    "residents": "fl_residents_by_district.csv",
    "age_groups": "fl_age_groups_by_district.csv",
    "births": "fl_births_by_district.csv",
    "city_age_groups": "fl_age_groups_of_residents.csv",
    "band_under_18": "fl_children_age_under_18_by_district.csv",
    "band_18_to_under_65": "fl_residents_age_18_to_under_65_by_district.csv",
    "band_65_and_above": "fl_residents_age_65_and_above_by_district.csv",
    "migration_background": "fl_migration_background_by_district.csv",
    "residence_status": "fl_non_german_nationals_residence_status.csv",
}


@dataclass(frozen=True)
class PublishedTotals:
    """Published tables in the column layout of the Sozialatlas CSVs (one DataFrame per table)."""

    residents: pd.DataFrame  # year, district_id, residents
    age_groups: pd.DataFrame  # year, district_id, the eight DISTRICT_AGE_GROUPS columns
    births: pd.DataFrame  # year, district_id, births (other columns ignored)
    city_age_groups: pd.DataFrame  # year + the six SIX_AGE_GROUPS columns (city-wide)
    band_under_18: pd.DataFrame  # year, district_id, residents
    band_18_to_under_65: pd.DataFrame
    band_65_and_above: pd.DataFrame
    migration_background: pd.DataFrame  # year, district_id, foreign_citizenship, german_citizenship
    bezirke: pd.DataFrame  # bezirk_id, district_id, area_km2 (optional: weight)
    # Optional T10 (Ausländerbehörde, city-wide): trend of the non-German population and EU share.
    residence_status: pd.DataFrame | None = None

    @classmethod
    def from_sozialatlas_dir(cls, sozialatlas_dir: str | Path, bezirke: pd.DataFrame) -> PublishedTotals:
        """Read the raw Sozialatlas CSVs (as converted in the data mirror) from one directory."""
        directory = Path(sozialatlas_dir)
        tables = {}
        for field, file_name in SOZIALATLAS_FILES.items():
            path = directory / file_name
            if field == "residence_status" and not path.exists():
                tables[field] = None
                continue
            tables[field] = _read_sozialatlas_csv(path)
        return cls(bezirke=bezirke, **tables)


def _read_sozialatlas_csv(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path)
    if "district_id" in table.columns:
        # Empty district_id = "nicht zuordenbar"; keep the row (city totals) with a nullable id.
        table["district_id"] = table["district_id"].astype("Int64")
    return table


def district_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows that belong to a Stadtteil: drops persons not assignable to one (empty district_id)."""
    rows = table[table["district_id"].notna()].copy()
    rows["district_id"] = rows["district_id"].astype("int64")
    return rows


def load_bezirke(geojson_path: str | Path) -> pd.DataFrame:
    """Bezirke table from the statistische-Bezirke GeoJSON: bezirk_id, district_id, area_km2."""
    import geopandas as gpd
    import shapely

    frame = gpd.read_file(geojson_path)
    # Two features have tiny ring self-intersections (STBZ073, STBZ122); repair before measuring.
    frame = frame.set_geometry(shapely.make_valid(frame.geometry.values)).to_crs(25832)
    return pd.DataFrame({
        "bezirk_id": frame["AREA_ID"].astype(str).to_numpy(),
        "district_id": frame["PARENT_ARE"].str[4:].astype("int64").to_numpy(),
        "area_km2": frame.geometry.area.to_numpy() / 1e6,
    }).sort_values("bezirk_id", ignore_index=True)
