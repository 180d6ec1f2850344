"""Exports of what an app shows: Excel (German headers, openpyxl), CSV (semicolon, decimal
comma) and PNG, as download links that work in Voilà.

Voilà serves no files of the app directory (``file_allowlist = []``), and a ``FileLink`` would
point at the server's disk anyway. The links here carry the file itself as a ``data:`` URI with
the ``download`` attribute: the browser saves it without asking the server again.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from datetime import datetime

import ipywidgets as widgets
import pandas as pd

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv;charset=utf-8"
PNG_MIME = "image/png"

# Excel number formats per display kind; Excel shows them with the separators of its locale
# (German Excel: 99.341 and 12,5).
EXCEL_FORMATS = {"int": "#,##0", "dec1": "#,##0.0", "dec2": "#,##0.00", "pct": "0.0", "year": "0"}
CSV_DECIMALS = {"int": 0, "dec1": 1, "dec2": 2, "pct": 1}


def _export_frame(table) -> pd.DataFrame:
    """Numbers rounded as displayed (ints as integers), missing values empty."""
    frame = table.frame.copy()
    for column, kind in table.formats.items():
        if column not in frame:
            continue
        if kind in ("int", "year"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").round(0).astype("Int64")
        elif kind in CSV_DECIMALS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64").round(CSV_DECIMALS[kind])
    return frame


def _sheet_name(text: str) -> str:
    cleaned = "".join(ch for ch in text if ch not in '[]:*?/\\')
    return (cleaned or "Tabelle")[:31]


def xlsx_bytes(table, *, sheet: str = "Tabelle", info: Mapping[str, str] | None = None) -> bytes:
    """The table as .xlsx: German headers in row 1 (frozen, bold), numbers as numbers with
    German-displayable formats; a second sheet „Hinweise“ with title, notes and sources."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    frame = _export_frame(table)
    wb = Workbook()
    ws = wb.active
    ws.title = _sheet_name(sheet)
    ws.append([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        ws.append([None if (v is pd.NA or (isinstance(v, float) and v != v)) else
                   (v.item() if hasattr(v, "item") else v) for v in row])
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DCE6F1")
    warn = PatternFill("solid", fgColor="F8D7DA")
    for cell in ws[1]:
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for j, column in enumerate(frame.columns, start=1):
        kind = table.formats.get(column, "text")
        width = max([len(str(column))] + [len(str(v)) for v in frame[column].head(200)]) + 2
        ws.column_dimensions[get_column_letter(j)].width = min(max(width, 8), 48)
        if kind in EXCEL_FORMATS:
            for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                cell.number_format = EXCEL_FORMATS[kind]
    if table.highlight is not None:
        for i, flag in enumerate(table.highlight, start=2):
            if flag:
                for cell in ws[i]:
                    cell.fill = warn
    ws.freeze_panes = "A2"

    notes = wb.create_sheet("Hinweise")
    notes.append(["Titel", table.title])
    for note in table.notes:
        if note:
            notes.append(["Hinweis", note])
    for key, value in (info or {}).items():
        notes.append([key, value])
    notes.append(["Erstellt", datetime.now().strftime("%d.%m.%Y %H:%M")])
    for cell in notes["A"]:
        cell.font = bold
    notes.column_dimensions["A"].width = 22
    notes.column_dimensions["B"].width = 110
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def csv_bytes(table) -> bytes:
    """The table as CSV for German Excel: separator ``;``, decimal comma, UTF-8 with BOM."""
    frame = _export_frame(table)
    text = frame.to_csv(sep=";", decimal=",", index=False, na_rep="", lineterminator="\r\n")
    return ("\ufeff" + text).encode("utf-8")


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def download_link(data: bytes, filename: str, label: str, mime: str, *, css_class: str = "bif-download",
                  title: str | None = None) -> str:
    """An ``<a download>`` link that saves ``data`` as ``filename``."""
    tip = f' title="{html.escape(title)}"' if title else ""
    return (f'<a class="{css_class}" download="{html.escape(filename)}" href="{data_uri(data, mime)}"{tip}>'
            f"{html.escape(label)}</a>")


class TableDownloads(widgets.HTML):
    """Links „Excel“ and „CSV“ for the table currently shown; call :meth:`update` with it."""

    def __init__(self, **kwargs):
        super().__init__(value="", **kwargs)
        self.add_class("bif-downloads")
        self.table = None

    def update(self, table, *, info: Mapping[str, str] | None = None, sheet: str | None = None) -> None:
        self.table = table
        name = table.filename or "tabelle"
        xlsx = xlsx_bytes(table, sheet=sheet or "Tabelle", info=info)
        csv = csv_bytes(table)
        self.value = ('<span class="bif-download-label">Tabelle herunterladen:</span> '
                      + download_link(xlsx, f"{name}.xlsx", "Excel (.xlsx)", XLSX_MIME,
                                      title="Tabelle als Excel-Datei speichern")
                      + download_link(csv, f"{name}.csv", "CSV (;)", CSV_MIME,
                                      title="Tabelle als CSV-Datei (Semikolon, Dezimalkomma) speichern"))


def png_link(png: bytes, filename: str, label: str = "Diagramm als PNG speichern") -> str:
    return download_link(png, filename, label, PNG_MIME, title="Diagramm als Bild (PNG) speichern")
