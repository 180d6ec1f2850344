"""German display of protected tables: suppressed cells as ".", totals as "Insgesamt"."""

from __future__ import annotations

import pandas as pd

from bif_lib.i18n import format_number

SUPPRESSED = "."
TOTAL = "Insgesamt"
STATUS_COLUMN = "geheimhaltung"


def format_value(value, decimals: int | None = 0) -> str:
    """A published number German-formatted; a suppressed (missing) one as "."."""
    return SUPPRESSED if pd.isna(value) else format_number(value, decimals)


def format_table(table: pd.DataFrame, value_columns: list[str] | None = None, *,
                 decimals: int | None = None) -> pd.DataFrame:
    """A copy of a protected table as German text, ready to show or export.

    ``value_columns`` default to the table's value column recorded by ``protect`` (else every
    numeric column). Other columns are categories: ``<NA>`` there means the total (Insgesamt).
    Integers are shown without decimals, other numbers with ``decimals`` (default 2).
    """
    info = table.attrs.get("bif", {}).get("disclosure", {})
    if value_columns is None:
        value_columns = [info["value_column"]] if "value_column" in info else [
            name for name in table.columns if pd.api.types.is_numeric_dtype(table[name].dtype)]
    shown = pd.DataFrame(index=table.index)
    for name in table.columns:
        column = table[name]
        if name in value_columns:
            places = 0 if pd.api.types.is_integer_dtype(column.dtype) else (2 if decimals is None else decimals)
            shown[name] = [format_value(v, places) for v in column]
        elif name == STATUS_COLUMN:
            shown[name] = column.fillna("").astype(str)
        else:
            shown[name] = [TOTAL if pd.isna(v) else str(v) for v in column]
    shown.attrs = {"bif": {**table.attrs.get("bif", {})}}
    return shown
