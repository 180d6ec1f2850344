"""German tables for the apps: a :class:`~bif_lib.apps.views.common.ViewTable` as HTML.

Numbers are formatted with ``bif_lib.i18n`` (99.341; 12,5 %), years without a thousands
separator, missing values as "–". Plain HTML (no pandas Styler): it renders in a few
milliseconds and looks the same in Voilà, JupyterLab and exported reports.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import pandas as pd

from bif_lib.i18n import format_number

DASH = "–"


def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return isinstance(value, float) and math.isnan(value)
    except TypeError:
        return False


def format_value(value, kind: str = "text") -> str:
    """One cell as German text. kind: int | dec1 | dec2 | pct (percent points) | year | text."""
    if _missing(value):
        return DASH
    if kind == "int":
        return format_number(round(float(value)), 0) if not isinstance(value, str) else value
    if kind == "dec1":
        return format_number(float(value), 1)
    if kind == "dec2":
        return format_number(float(value), 2)
    if kind == "pct":
        return f"{format_number(float(value), 1)} %"
    if kind == "year":
        return str(int(value))
    if isinstance(value, bool):
        return "ja" if value else "nein"
    return str(value)


def format_frame(frame: pd.DataFrame, formats: Mapping[str, str] | None = None) -> pd.DataFrame:
    """All cells as German text (for display; exports keep the numbers)."""
    formats = formats or {}
    return pd.DataFrame({column: [format_value(v, formats.get(column, "text")) for v in frame[column]]
                         for column in frame.columns}, index=frame.index)


NUMERIC_KINDS = ("int", "dec1", "dec2", "pct", "year")


def table_headers(table) -> list[str]:
    """The headers people see: with their units (``ViewTable.headers``), else the columns."""
    headers = getattr(table, "headers", None)
    return list(headers()) if callable(headers) else [str(c) for c in table.frame.columns]


def html_table(table, *, max_height: str | None = None, table_id: str | None = None,
               show_title: bool = True, show_notes: bool = True) -> str:
    """HTML for a ViewTable: caption, header, rows (highlighted / selected rows marked by class)."""
    frame, formats = table.frame, table.formats
    columns = list(frame.columns)
    head = "".join(
        f'<th class="{"num" if formats.get(c) in NUMERIC_KINDS else "txt"}" scope="col">{html.escape(label)}</th>'
        for c, label in zip(columns, table_headers(table)))
    body = []
    for i, row in enumerate(frame.itertuples(index=False, name=None)):
        classes = []
        if table.highlight is not None and table.highlight[i]:
            classes.append("bif-warn")
        if table.selected is not None and table.selected[i]:
            classes.append("bif-selected")
        cells = "".join(
            f'<td class="{"num" if formats.get(c) in NUMERIC_KINDS else "txt"}">'
            f'{html.escape(format_value(v, formats.get(c, "text")))}</td>'
            for c, v in zip(columns, row))
        body.append(f'<tr class="{" ".join(classes)}">{cells}</tr>')
    style = f' style="max-height:{max_height}"' if max_height else ""
    ident = f' id="{html.escape(table_id)}"' if table_id else ""
    caption = (f'<div class="bif-table-title">{html.escape(table.title)}</div>' if show_title else "")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in table.notes if n) if show_notes else ""
    notes_html = f'<ul class="bif-notes">{notes}</ul>' if notes else ""
    return (f'<div class="bif-table"{ident}>{caption}<div class="bif-table-scroll"{style}>'
            f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
            f"{notes_html}</div>")


def key_figures_html(figures: Mapping[str, str]) -> str:
    """Small key figures ("Einwohner 12.532 · Durchschnittsalter 41,2") as HTML."""
    items = "".join(f'<span class="bif-kf"><span class="bif-kf-label">{html.escape(k)}</span> '
                    f'<span class="bif-kf-value">{html.escape(v)}</span></span>' for k, v in figures.items())
    return f'<div class="bif-keyfigures">{items}</div>'
