"""The „Daten & Qualität“ panel every app shows: which data, which version, from where,
under which licence, which checks it passed — and the „synthetisch“ label where it applies.

:func:`dataset_summary` (pure, tested) turns a :class:`bif_lib.api.DatasetDescription` into
German text fields; :func:`quality_html` renders them; :func:`data_quality_panel` is the widget.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Iterable, Mapping, Sequence

import ipywidgets as widgets
import pandas as pd

from bif_lib.apps.widgets.export import ExportDataset, ExportInfo
from bif_lib.apps.widgets.loading import RAISE_ENV
from bif_lib.i18n import CLASSIFICATION_LABELS, format_local_datetime, format_number, reference_date, reference_detail
from bif_lib.validation.report import RULE_TITLES

SYNTHETIC_BADGE = '<span class="bif-badge bif-badge-synthetic">synthetisch</span>'
NO_REFERENCE = "nicht angegeben"
log = logging.getLogger(__name__)


def _local_time(value) -> str:
    """An instant as people read it: Europe/Berlin, 05.12.2026 10:39."""
    return format_local_datetime(value) if value else "–"


def dataset_summary(description) -> dict:
    """German summary of one dataset version (from ``bif_lib.describe``)."""
    entry, contract, report = description.entry, description.contract, description.report
    licence = contract.get("licence", {})
    generic = [RULE_TITLES.get(rule, rule) for rule in report.get("rules_checked", [])]
    rules = [(r.get("id", ""), r.get("description", "").strip(), r.get("severity", "error"))
             for r in contract.get("rules", [])]
    warnings = [f.get("message", "") for f in report.get("failures", []) if f.get("severity") == "warning"]
    return {
        "dataset": entry.dataset_id,
        "title": entry.title,
        "version": entry.version,
        "versions": len(description.versions),
        "reference": reference_date(contract.get("temporal_coverage")),
        "reference_detail": reference_detail(contract.get("temporal_coverage")),
        "ingested_at": _local_time(entry.ingested_at),
        "rows": format_number(entry.rows),
        "classification": CLASSIFICATION_LABELS.get(entry.classification, entry.classification),
        "synthetic": bool(entry.synthetic),
        "owner": contract.get("owner") or "",
        "source": contract.get("source_system") or "",
        "licence": licence.get("name") or "",
        "attribution": licence.get("attribution") or "",
        "sha256": entry.sha256,
        "checks": generic,
        "rules": rules,
        "rows_checked": format_number(report.get("rows_checked", entry.rows)),
        "ok": bool(report.get("ok", True)),
        "warnings": int(report.get("warnings", 0)),
        "warning_messages": warnings,
        "protection": protection_label(entry.lineage.get("release")),
    }


PROTECTION_METHODS = {"cellkey": "Cell-Key-Verfahren", "suppression": "Zellsperrung",
                      "output_check": "Ausgabeprüfung für Modellparameter"}


def protection_label(release: Mapping | None) -> str:
    """How a released table was protected, for people ("geschützt (Cell-Key-Verfahren)")."""
    if not release:
        return ""
    method = PROTECTION_METHODS.get(release.get("method"), release.get("method") or "Freigabe")
    when = release.get("released_at") or ""
    by = release.get("released_by") or ""
    detail = ", ".join(x for x in (f"freigegeben {_local_time(when)}" if when else "",
                                   f"von {by}" if by else "") if x)
    return f"geschützt ({method})" + (f" – {detail}" if detail else "")


def _row(label: str, value: str) -> str:
    return f"<tr><th>{html.escape(label)}</th><td>{value}</td></tr>"


def dataset_html(summary: Mapping) -> str:
    badge = SYNTHETIC_BADGE if summary["synthetic"] else ""
    checks = ", ".join(html.escape(c) for c in summary["checks"])
    rules = "".join(
        f"<li>{html.escape(desc or rule_id)}{' (Warnung)' if severity == 'warning' else ''}</li>"
        for rule_id, desc, severity in summary["rules"])
    warnings = "".join(f"<li>{html.escape(m)}</li>" for m in summary["warning_messages"][:5])
    more = summary["warnings"] - min(len(summary["warning_messages"]), 5)
    if more > 0:
        warnings += f"<li>… und {format_number(more)} weitere</li>"
    result = ("bestanden" if summary["ok"] else "nicht bestanden")
    if summary["warnings"]:
        result += f", {format_number(summary['warnings'])} Warnung(en)"
    reference = summary.get("reference") or NO_REFERENCE
    detail = summary.get("reference_detail") or ""
    rows = [
        _row("Datensatz", f"<code>{html.escape(summary['dataset'])}</code>"),
        _row("Version", f"{summary['version']} von {summary['versions']}"),
        _row("Stand der Daten", html.escape(reference) + (f" <span class=\"bif-muted\">({html.escape(detail)})</span>"
                                                          if detail else "")),
        _row("Eingelesen", html.escape(summary["ingested_at"])),
        _row("Einstufung", html.escape(summary["classification"])),
        _row("Zeilen", html.escape(summary["rows"])),
        _row("Quelle", html.escape(summary["source"])),
        _row("Dateneigentümer", html.escape(summary["owner"])),
        _row("Lizenz", html.escape(summary["licence"])),
        _row("Namensnennung", html.escape(summary["attribution"])),
        _row("Prüfung", f"{result}: {html.escape(summary['rows_checked'])} Zeilen gegen den Datenvertrag geprüft"),
        _row("Geprüft", checks),
    ]
    if rules:
        rows.append(_row("Regeln des Vertrags", f"<ul>{rules}</ul>"))
    if warnings:
        rows.append(_row("Warnungen", f"<ul>{warnings}</ul>"))
    if summary.get("protection"):
        rows.append(_row("Geheimhaltung", html.escape(summary["protection"])))
    rows.append(_row("Prüfsumme", f"<code title=\"sha256\">{html.escape(summary['sha256'][:16])}…</code>"))
    return (f'<details class="bif-dataset"><summary><b>{html.escape(summary["title"])}</b> {badge} '
            f'<span class="bif-muted">Version {summary["version"]}, Stand {html.escape(reference)}, '
            f'eingelesen {html.escape(summary["ingested_at"])}</span></summary>'
            f"<table class=\"bif-meta\">{''.join(rows)}</table></details>")


BACKTEST_TITLE = "Rückblick: Prognosefehler"
BACKTEST_PENDING = "wird beim Öffnen berechnet …"


def backtest_html(lines: Sequence[str] | None) -> str:
    """The back-test part of the panel: the first line (headline) bold, the others as a list."""
    if lines is None:
        return ""
    if not lines:
        return f'<h4>{BACKTEST_TITLE}</h4><p class="bif-muted">{html.escape(BACKTEST_PENDING)}</p>'
    head, *rest = lines
    items = "".join(f"<li>{html.escape(line)}</li>" for line in rest)
    return (f'<h4>{BACKTEST_TITLE}</h4><div class="bif-backtest"><p><b>{html.escape(head)}</b></p>'
            + (f"<ul>{items}</ul>" if items else "") + "</div>")


def quality_html(summaries: Sequence[Mapping], *, notes: Iterable[str] = (),
                 assumptions: Mapping[str, str] | None = None, backtest: Sequence[str] | None = None) -> str:
    """The panel's content: synthetic notice, datasets, model assumptions, the back-test (if the
    app has one: ``backtest`` lines, [] = not yet computed), notes."""
    parts = []
    synthetic = [s["title"] for s in summaries if s["synthetic"]]
    if synthetic:
        parts.append('<div class="bif-synthetic-note">' + SYNTHETIC_BADGE +
                     " Diese App nutzt <b>synthetische Daten</b>: " + html.escape(", ".join(synthetic)) +
                     ". Sie sind aus einem synthetischen Melderegister abgeleitet (keine echten Personen) "
                     "und zeigen Größenordnungen, keine amtlichen Werte.</div>")
    parts.append("<p>Alle Daten sind geprüft: Jede Version hat beim Einlesen alle Regeln ihres Datenvertrags "
                 "bestanden. Angezeigt wird die jeweils geladene Version. „Stand“ ist der Stichtag der Daten, "
                 "„eingelesen“ der Zeitpunkt, zu dem diese Version in BIF übernommen wurde.</p>")
    parts.extend(dataset_html(s) for s in summaries)
    attributions = list(dict.fromkeys(s["attribution"] for s in summaries if s["attribution"]))
    if attributions:
        parts.append("<p><b>Quellenvermerk:</b> " + " ".join(html.escape(a) for a in attributions) + "</p>")
    if assumptions:
        rows = "".join(_row(k, html.escape(str(v))) for k, v in assumptions.items())
        parts.append(f'<h4>Annahmen der Berechnung</h4><table class="bif-meta">{rows}</table>')
    parts.append(backtest_html(backtest))
    notes = [n for n in notes if n]
    if notes:
        parts.append("<h4>Hinweise</h4><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    return '<div class="bif-quality">' + "".join(parts) + "</div>"


def describe_loaded(frames: Iterable[pd.DataFrame | str | tuple], *, store=None) -> list:
    """``describe`` of exactly the versions that were loaded, in order, once each.

    Items: a loaded DataFrame (its ``attrs["bif"]``), a ``(dataset, version)`` pair (e.g. from a
    result's ``inputs``) or a dataset id (latest version).
    """
    from bif_lib.api import describe

    seen, out = set(), []
    for item in frames:
        if isinstance(item, str):
            key = (item, None)
        elif isinstance(item, tuple):
            key = (item[0], int(item[1]) if item[1] is not None else None)
        else:
            meta = item.attrs.get("bif", {})
            key = (meta["dataset"], meta.get("version"))
        if key in seen:
            continue
        seen.add(key)
        out.append(describe(key[0], version=key[1], store=store))
    return out


class DataQualityPanel(widgets.Accordion):
    """Collapsed „Daten & Qualität“ section; :meth:`set_assumptions` updates the model part,
    :meth:`set_backtest` adds the projection's back-test (computed when the panel is first
    opened, so that it never delays opening the app)."""

    def __init__(self, frames: Iterable[pd.DataFrame | str | tuple], *, notes: Iterable[str] = (),
                 assumptions: Mapping[str, str] | None = None, store=None,
                 title: str = "Daten & Qualität"):
        self.summaries = [dataset_summary(d) for d in describe_loaded(frames, store=store)]
        self.notes = list(notes)
        self.assumptions: dict[str, str] = dict(assumptions or {})
        self._backtest_provider = None
        self.backtest_lines: list[str] | None = None  # None: no back-test; []: not yet computed
        self.html = widgets.HTML(quality_html(self.summaries, notes=self.notes, assumptions=assumptions))
        super().__init__(children=[self.html], selected_index=None)
        self.set_title(0, title + (" – enthält synthetische Daten" if self.synthetic else ""))
        self.add_class("bif-quality-panel")
        self.observe(self._opened, "selected_index")

    def _render(self) -> None:
        self.html.value = quality_html(self.summaries, notes=self.notes, assumptions=self.assumptions,
                                       backtest=self.backtest_lines)

    def set_backtest(self, provider, *, now: bool = False) -> None:
        """Show a back-test: ``provider()`` returns its German lines (headline first) — called once,
        when the panel is first opened (``now``: at once), or a list of lines. A provider that fails
        shows why in German instead of breaking the app."""
        if callable(provider):
            self._backtest_provider = provider
            self.backtest_lines = []
            if now or self.selected_index == 0:
                self.compute_backtest()
            else:
                self._render()
        else:
            self._backtest_provider = None
            self.backtest_lines = list(provider) if provider is not None else None
            self._render()

    def compute_backtest(self) -> list[str] | None:
        """The back-test's lines, computing them now if they are still pending."""
        if self._backtest_provider is not None and not self.backtest_lines:
            provider, self._backtest_provider = self._backtest_provider, None
            try:
                self.backtest_lines = list(provider()) or ["Rückblick nicht möglich."]
            except ValueError as error:  # German messages of the planning models
                self.backtest_lines = [f"Rückblick nicht möglich: {error}"]
            except Exception:  # noqa: BLE001 - the panel stays usable; tests re-raise
                log.exception("back-test failed")
                if os.environ.get(RAISE_ENV):
                    raise
                self.backtest_lines = ["Rückblick nicht möglich (technischer Fehler, siehe Protokoll)."]
            self._render()
        return self.backtest_lines

    def _opened(self, change) -> None:
        if change["new"] == 0 and self._backtest_provider is not None:
            self.compute_backtest()

    @property
    def synthetic(self) -> bool:
        return any(s["synthetic"] for s in self.summaries)

    def set_assumptions(self, assumptions: Mapping[str, str] | None) -> None:
        """Show the model's current assumptions (and remember them for exports)."""
        self.assumptions = dict(assumptions or {})
        self._render()

    def export_datasets(self) -> list[ExportDataset]:
        return [ExportDataset(title=s["title"], dataset=s["dataset"], version=s["version"],
                              reference=s.get("reference", ""), reference_detail=s.get("reference_detail", ""),
                              imported=s["ingested_at"], classification=s["classification"],
                              synthetic=s["synthetic"], protection=s.get("protection", ""))
                for s in self.summaries]

    def export_sources(self) -> dict[str, str]:
        """Quellenvermerke and licences of the datasets, numbered."""
        info = {}
        for j, attribution in enumerate(dict.fromkeys(s["attribution"] for s in self.summaries if s["attribution"]), 1):
            info[f"Quellenvermerk {j}"] = attribution
        for j, licence in enumerate(dict.fromkeys(s["licence"] for s in self.summaries if s["licence"]), 1):
            info[f"Lizenz {j}"] = licence
        return info

    def export_info(self, *, app: str = "", app_id: str = "", selection: str = "", scenario: str = "",
                    model: str = "", created=None) -> ExportInfo:
        """What an export of this app says about itself (the sheet „Hinweise“, the file name):
        the app's part (app, selection, scenario, model version) plus what the panel knows —
        every current assumption, the datasets with version, reference date and import date,
        their synthetic and protection notes, sources and licences."""
        backtest = [f"{BACKTEST_TITLE}: {line}" for line in (self.backtest_lines or [])]
        return ExportInfo(app=app, app_id=app_id, selection=selection, scenario=scenario,
                          assumptions=dict(self.assumptions), datasets=self.export_datasets(), model=model,
                          notes=[*self.notes, *backtest], sources=self.export_sources(), created=created)
