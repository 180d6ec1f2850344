"""The „Daten & Qualität“ panel every app shows: which data, which version, from where,
under which licence, which checks it passed — and the „synthetisch“ label where it applies.

:func:`dataset_summary` (pure, tested) turns a :class:`bif_lib.api.DatasetDescription` into
German text fields; :func:`quality_html` renders them; :func:`data_quality_panel` is the widget.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

import ipywidgets as widgets
import pandas as pd

from bif_lib.i18n import CLASSIFICATION_LABELS, format_datetime, format_number
from bif_lib.validation.report import RULE_TITLES

SYNTHETIC_BADGE = '<span class="bif-badge bif-badge-synthetic">synthetisch</span>'


def _local_time(value) -> str:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("Europe/Berlin")
    return format_datetime(stamp)


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
    rows = [
        _row("Datensatz", f"<code>{html.escape(summary['dataset'])}</code>"),
        _row("Version", f"{summary['version']} von {summary['versions']} – Stand {html.escape(summary['ingested_at'])}"),
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
            f'<span class="bif-muted">Version {summary["version"]}, Stand {html.escape(summary["ingested_at"])}'
            f"</span></summary><table class=\"bif-meta\">{''.join(rows)}</table></details>")


def quality_html(summaries: Sequence[Mapping], *, notes: Iterable[str] = (),
                 assumptions: Mapping[str, str] | None = None) -> str:
    """The panel's content: synthetic notice, datasets, model assumptions, notes."""
    parts = []
    synthetic = [s["title"] for s in summaries if s["synthetic"]]
    if synthetic:
        parts.append('<div class="bif-synthetic-note">' + SYNTHETIC_BADGE +
                     " Diese App nutzt <b>synthetische Daten</b>: " + html.escape(", ".join(synthetic)) +
                     ". Sie sind aus einem synthetischen Melderegister abgeleitet (keine echten Personen) "
                     "und zeigen Größenordnungen, keine amtlichen Werte.</div>")
    parts.append("<p>Alle Daten sind geprüft: Jede Version hat beim Einlesen alle Regeln ihres Datenvertrags "
                 "bestanden. Angezeigt wird die jeweils geladene Version.</p>")
    parts.extend(dataset_html(s) for s in summaries)
    attributions = list(dict.fromkeys(s["attribution"] for s in summaries if s["attribution"]))
    if attributions:
        parts.append("<p><b>Quellenvermerk:</b> " + " ".join(html.escape(a) for a in attributions) + "</p>")
    if assumptions:
        rows = "".join(_row(k, html.escape(str(v))) for k, v in assumptions.items())
        parts.append(f'<h4>Annahmen der Berechnung</h4><table class="bif-meta">{rows}</table>')
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
    """Collapsed „Daten & Qualität“ section; :meth:`set_assumptions` updates the model part."""

    def __init__(self, frames: Iterable[pd.DataFrame | str | tuple], *, notes: Iterable[str] = (),
                 assumptions: Mapping[str, str] | None = None, store=None,
                 title: str = "Daten & Qualität"):
        self.summaries = [dataset_summary(d) for d in describe_loaded(frames, store=store)]
        self.notes = list(notes)
        self.html = widgets.HTML(quality_html(self.summaries, notes=self.notes, assumptions=assumptions))
        super().__init__(children=[self.html], selected_index=None)
        self.set_title(0, title + (" – enthält synthetische Daten" if self.synthetic else ""))
        self.add_class("bif-quality-panel")

    @property
    def synthetic(self) -> bool:
        return any(s["synthetic"] for s in self.summaries)

    def set_assumptions(self, assumptions: Mapping[str, str] | None) -> None:
        self.html.value = quality_html(self.summaries, notes=self.notes, assumptions=assumptions)

    def export_info(self) -> dict[str, str]:
        """Sources and licences for the „Hinweise“ sheet of Excel exports."""
        info = {}
        for i, s in enumerate(self.summaries, start=1):
            label = " (synthetisch)" if s["synthetic"] else ""
            info[f"Datensatz {i}"] = f"{s['title']}{label} – {s['dataset']}, Version {s['version']}, Stand {s['ingested_at']}"
        for j, attribution in enumerate(dict.fromkeys(s["attribution"] for s in self.summaries if s["attribution"]), 1):
            info[f"Quellenvermerk {j}"] = attribution
        for j, licence in enumerate(dict.fromkeys(s["licence"] for s in self.summaries if s["licence"]), 1):
            info[f"Lizenz {j}"] = licence
        return info
