"""Exports of what an app shows: Excel (German headers, openpyxl), CSV (semicolon, decimal
comma) and PNG, as download links that work in Voilà.

Voilà serves no files of the app directory (``file_allowlist = []``), and a ``FileLink`` would
point at the server's disk anyway. The links here carry the file itself as a ``data:`` URI with
the ``download`` attribute: the browser saves it without asking the server again.

What an export says about itself (:class:`ExportInfo`, filled by the app and its „Daten &
Qualität“ panel): its file name names app, Stadtteil or school, scenario and date
(:func:`export_filename`); the Excel sheet „Hinweise“ lists every assumption, the datasets with
version, reference date („Stand“) and import date, the model version and the notes on synthetic
and protected data. Times are Europe/Berlin. Text cells that a spreadsheet would take for a
formula (``=``, ``+``, ``-``, ``@``, tab, CR at the start) are written as text: in Excel as a
text cell with the quote prefix, in CSV with a leading ``'``.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import ipywidgets as widgets
import pandas as pd

from bif_lib.apps.views.common import slug
from bif_lib.apps.widgets.formatting import table_headers
from bif_lib.i18n import format_local_datetime, local_time

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv;charset=utf-8"
PNG_MIME = "image/png"

# Excel number formats per display kind; Excel shows them with the separators of its locale
# (German Excel: 99.341 and 12,5).
EXCEL_FORMATS = {"int": "#,##0", "dec1": "#,##0.0", "dec2": "#,##0.00", "pct": "0.0", "year": "0"}
CSV_DECIMALS = {"int": 0, "dec1": 1, "dec2": 2, "pct": 1}

# A text cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice
# and Google Sheets: "formula injection" (OWASP: CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value) -> bool:
    """Whether a spreadsheet could read this text cell as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_text(value):
    """A CSV cell that no spreadsheet runs: formula-like text gets a leading ``'``; numbers and
    other text stay as they are."""
    return "'" + value if formula_like(value) else value


# --- what an export says about itself --------------------------------------------------------------

@dataclass
class ExportDataset:
    """One dataset version an export is computed from, as people read it."""

    title: str
    dataset: str
    version: int | str
    reference: str = ""        # the data's reference date ("31.12.2022"): „Stand der Daten“
    reference_detail: str = ""  # what the contract says about it
    imported: str = ""          # when this version was read in (Europe/Berlin)
    classification: str = ""   # German label
    synthetic: bool = False
    protection: str = ""        # "geschützt (Cell-Key-Verfahren) – freigegeben …" or ""

    @property
    def remarks(self) -> str:
        return "; ".join(x for x in ("synthetisch" if self.synthetic else "", self.protection) if x)


SYNTHETIC_EXPORT_NOTE = ("synthetisch: Die Datei enthält Werte aus synthetischen Daten ({titles}), abgeleitet "
                         "aus einem synthetischen Melderegister (keine echten Personen). Sie zeigen "
                         "Größenordnungen, keine amtlichen Werte.")
PROTECTED_EXPORT_NOTE = ("geschützt: {title} – {protection}. Die Statistikstelle hat die Daten vor der "
                         "Freigabe so geprüft und geschützt, dass keine einzelne Person erkennbar ist.")
CELL_KEY_NOTE = (" Beim Cell-Key-Verfahren sind einzelne Werte leicht verändert; Summen aus ihnen können daher "
                 "etwas von anderen veröffentlichten Summen abweichen.")


@dataclass
class ExportInfo:
    """Everything an export says about what it shows (app, selection, scenario, assumptions,
    data, model) besides the table itself. Built by the app when a file is made."""

    app: str = ""                     # the app's title
    app_id: str = ""                  # its short name in file names ("kita")
    selection: str = ""               # chosen Stadtteil or school ("Gesamtstadt" if none)
    scenario: str = ""                # "hoch", "hoch (angepasst)"; "" for apps without scenarios
    assumptions: Mapping[str, str] = field(default_factory=dict)
    datasets: Sequence[ExportDataset] = ()
    model: str = ""                   # the model version
    notes: Sequence[str] = ()         # notes on the data (as in the panel)
    sources: Mapping[str, str] = field(default_factory=dict)  # "Quellenvermerk 1", "Lizenz 1", …
    created: datetime | str | None = None  # when the file is made; None: now

    def __post_init__(self) -> None:
        self.created = local_time(self.created)

    @property
    def synthetic(self) -> bool:
        return any(d.synthetic for d in self.datasets)

    def filename(self, table_name: str = "") -> str:
        """'kita_versorgung_2030_unter_3_jahre_muerwik_hoch_2026-12-05' (without extension)."""
        return export_filename(self.app_id, table_name, self.selection, self.scenario, when=self.created)

    def data_notes(self) -> list[tuple[str, str]]:
        """(label, text) of the notes on synthetic and protected data."""
        rows = []
        synthetic = [d.title for d in self.datasets if d.synthetic]
        if synthetic:
            rows.append(("Synthetische Daten", SYNTHETIC_EXPORT_NOTE.format(titles=", ".join(synthetic))))
        for d in self.datasets:
            if d.protection:
                text = PROTECTED_EXPORT_NOTE.format(title=d.title, protection=d.protection)
                rows.append(("Geheimhaltung", text + (CELL_KEY_NOTE if "Cell-Key" in d.protection else "")))
        return rows


def export_filename(*parts: str, when: datetime | str | None = None) -> str:
    """A download's file name (without extension) from its parts and the day of ``when`` (default
    today, Europe/Berlin): lower-case ASCII words joined by ``_``, ISO date at the end. A part
    already in the name is not repeated ("kita" + "kita_versorgung_2030" = "kita_versorgung_2030")."""
    name = ""
    for part in parts:
        text = slug(str(part)) if part and str(part).strip() else ""
        if not text or text == "tabelle" and name:
            continue
        if not name or text.startswith(name + "_"):
            name = text
        elif f"_{text}_" not in f"_{name}_":
            name = f"{name}_{text}"
    return f"{name or 'tabelle'}_{local_time(when).strftime('%Y-%m-%d')}"


# --- files ---------------------------------------------------------------------------------------

def _export_frame(table) -> pd.DataFrame:
    """Numbers rounded as displayed (ints as integers), missing values empty, headers with units."""
    frame = table.frame.copy()
    for column, kind in table.formats.items():
        if column not in frame:
            continue
        if kind in ("int", "year"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").round(0).astype("Int64")
        elif kind in CSV_DECIMALS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64").round(CSV_DECIMALS[kind])
    frame.columns = table_headers(table)
    return frame


def _sheet_name(text: str) -> str:
    cleaned = "".join(ch for ch in text if ch not in '[]:*?/\\')
    return (cleaned or "Tabelle")[:31]


def _as_text_cells(ws) -> None:
    """Every text cell of the sheet is text, never a formula; formula-like text gets Excel's
    quote prefix too, so that editing the cell does not turn it into one."""
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
                if formula_like(cell.value):
                    cell.quotePrefix = True


def info_rows(table, info: ExportInfo | Mapping[str, str] | None) -> list[list]:
    """The rows of the sheet „Hinweise“: a label in column A, its text in B (the datasets as a
    small table)."""
    rows: list[list] = [["Titel", table.title]]
    if isinstance(info, ExportInfo):
        for label, value in (("App", info.app), ("Auswahl", info.selection), ("Szenario", info.scenario)):
            if value:
                rows.append([label, value])
    rows += [["Hinweis", note] for note in table.notes if note]
    if not isinstance(info, ExportInfo):
        rows += [[key, value] for key, value in (info or {}).items()]
        rows.append(["Erstellt", format_local_datetime()])
        return rows
    rows.append(["Erstellt", format_local_datetime(info.created)])
    if info.model:
        rows.append(["Modellversion", info.model])
    rows += [[label, text] for label, text in info.data_notes()]
    if info.assumptions:
        rows += [[], ["Annahmen der Berechnung"]]
        rows += [[label, str(value)] for label, value in info.assumptions.items()]
    if info.datasets:
        rows += [[], ["Daten"],
                 ["Datensatz", "Kennung", "Version", "Stand der Daten", "Eingelesen", "Einstufung", "Hinweis",
                  "Stichtag laut Datenvertrag"]]
        rows += [[d.title, d.dataset, d.version, d.reference or "nicht angegeben", d.imported, d.classification,
                  d.remarks, d.reference_detail] for d in info.datasets]
    if info.sources or info.notes:
        rows.append([])
    rows += [[key, value] for key, value in info.sources.items()]
    rows += [["Hinweis zu den Daten", note] for note in info.notes if note]
    return rows


def xlsx_bytes(table, *, sheet: str = "Tabelle", info: ExportInfo | Mapping[str, str] | None = None,
               extra_sheets: Sequence[tuple[str, object]] = ()) -> bytes:
    """The table as .xlsx: German headers with units in row 1 (frozen, bold), numbers as numbers
    with German-displayable formats; ``extra_sheets`` ((name, table), …) each on a sheet of its
    own in the same layout (e.g. every assumption of a projection: „Annahmen“, „Neubau“); last
    a sheet „Hinweise“ with title, notes, assumptions, data versions and their reference dates
    (see :func:`info_rows`)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = _sheet_name(sheet)
    _fill_sheet(ws, table)
    used = {ws.title}
    for name, extra in extra_sheets:
        title = _sheet_name(name)
        while title in used or title == "Hinweise":
            title = _sheet_name(title[:28] + f" {len(used)}")
        used.add(title)
        _fill_sheet(wb.create_sheet(title), extra)

    bold = Font(bold=True)
    notes = wb.create_sheet("Hinweise")
    for row in info_rows(table, info):
        notes.append(row)
        if len(row) == 1 or (row and row[0] == "Datensatz"):  # section titles and the data table's header
            for cell in notes[notes.max_row]:
                cell.font = bold
    _as_text_cells(notes)
    for cell in notes["A"]:
        cell.font = bold
    notes.column_dimensions["A"].width = 34
    notes.column_dimensions["B"].width = 90
    for letter in "CDEFGH":
        notes.column_dimensions[letter].width = 18
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _fill_sheet(ws, table) -> None:
    """One table on one sheet: headers with units (bold, frozen), numbers with display formats,
    highlighted rows."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    frame = _export_frame(table)
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        ws.append([None if (v is pd.NA or (isinstance(v, float) and v != v)) else
                   (v.item() if hasattr(v, "item") else v) for v in row])
    _as_text_cells(ws)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DCE6F1")
    warn = PatternFill("solid", fgColor="F8D7DA")
    for cell in ws[1]:
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for j, (column, header) in enumerate(zip(table.frame.columns, frame.columns), start=1):
        kind = table.formats.get(column, "text")
        width = max([len(str(header))] + [len(str(v)) for v in frame[header].head(200)]) + 2
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


def csv_bytes(table) -> bytes:
    """The table as CSV for German Excel: separator ``;``, decimal comma, UTF-8 with BOM; text
    that a spreadsheet would run as a formula starts with ``'``."""
    frame = _export_frame(table)
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):  # text (object or string dtype); numbers stay
            frame[column] = frame[column].map(csv_text)
    frame.columns = [csv_text(c) for c in frame.columns]
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
        self.filename = ""
        self.extra_sheets: list[str] = []

    def update(self, table, *, info: ExportInfo | Mapping[str, str] | None = None, sheet: str | None = None,
               extra_sheets: Sequence[tuple[str, object]] = ()) -> None:
        """Build both files of ``table``; with an :class:`ExportInfo` their name says app,
        selection, scenario and date, else it is the table's own file name. ``extra_sheets``
        ((name, table), …) become sheets of the Excel file and CSV files of their own."""
        self.table = table
        name = info.filename(table.filename) if isinstance(info, ExportInfo) else (table.filename or "tabelle")
        self.filename = name
        extra_sheets = list(extra_sheets)
        self.extra_sheets = [sheet_name for sheet_name, _ in extra_sheets]
        xlsx = xlsx_bytes(table, sheet=sheet or "Tabelle", info=info, extra_sheets=extra_sheets)
        csv = csv_bytes(table)
        links = [download_link(xlsx, f"{name}.xlsx", "Excel (.xlsx)", XLSX_MIME,
                               title="Tabelle als Excel-Datei speichern"
                                     + (" (mit " + ", ".join(self.extra_sheets) + " auf eigenen Blättern)"
                                        if extra_sheets else "")),
                 download_link(csv, f"{name}.csv", "CSV (;)", CSV_MIME,
                               title="Tabelle als CSV-Datei (Semikolon, Dezimalkomma) speichern")]
        for sheet_name, extra in extra_sheets:
            links.append(download_link(csv_bytes(extra), f"{name}_{slug(sheet_name)}.csv", f"CSV {sheet_name}",
                                       CSV_MIME, title=f"{sheet_name} als CSV-Datei speichern"))
        self.value = '<span class="bif-download-label">Tabelle herunterladen:</span> ' + "".join(links)


def png_link(png: bytes, filename: str, label: str = "Diagramm als PNG speichern") -> str:
    return download_link(png, filename, label, PNG_MIME, title="Diagramm als Bild (PNG) speichern")
