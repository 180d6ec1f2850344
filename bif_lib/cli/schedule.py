"""``bif schedule list|run|history|serve``: scheduled refresh of public sources (docs/schedule.md).

    bif schedule list [--json]                       scheduled datasets: schedule, last and next run
    bif schedule run DATASET [--mirror M]            refresh one dataset now (fetch, check, store, apps)
    bif schedule run --due                           every dataset whose run is due (e.g. from a systemd timer)
    bif schedule history [DATASET] [--limit N]       the latest runs, newest first
    bif schedule serve                               the scheduler process (started by bif platform start)

Refreshing writes the store and the app registry: root (the platform's operators) runs it.
Exit codes of ``run``: 0 new or unchanged, 1 failed (or no public source), 75 a refresh of the
dataset runs already (nothing done).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from bif_lib.cli import progress

SERVICE_MARKER = "bif_lib.cli schedule serve"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "schedule", help="planmäßige Aktualisierung öffentlicher Quellen: Zeitpläne, Läufe, Verlauf",
        description="Datensätze mit einem Zeitplan (refresh: im Vertrag oder im Stadtprofil) werden planmäßig "
                    "geholt, geprüft und eingespielt; Apps, die sie nutzen, werden neu veröffentlicht. "
                    "Zeiten in Europe/Berlin.")
    sub = parser.add_subparsers(dest="schedule_command", metavar="AKTION", required=True)

    listing = sub.add_parser("list", help="Datensätze mit Zeitplan: Zeitplan, letzter und nächster Lauf")
    listing.add_argument("--json", action="store_true", help="Ausgabe als JSON")
    listing.set_defaults(handler=_list)

    run = sub.add_parser("run", help="einen Datensatz jetzt aktualisieren (oder alle fälligen mit --due)")
    target = run.add_mutually_exclusive_group(required=True)
    target.add_argument("dataset", nargs="?", metavar="DATENSATZ", help="Datensatz-ID")
    target.add_argument("--due", action="store_true", help="alle Datensätze, deren Lauf fällig ist")
    run.add_argument("--mirror", help="lokales Verzeichnis oder http(s)-URL eines Spiegels der Quellen "
                                      "(Standard: schedule.mirror, sonst BIF_MIRROR, sonst die öffentlichen Adressen)")
    run.add_argument("--no-publish", action="store_true",
                     help="Apps nach einer neuen Version nicht neu veröffentlichen")
    run.add_argument("--json", action="store_true", help="Ausgabe als JSON")
    run.add_argument("--trigger", default=None, help=argparse.SUPPRESS)   # set by the scheduler
    run.add_argument("--run-id", default=None, help=argparse.SUPPRESS)    # set by the scheduler
    run.set_defaults(handler=_run)

    past = sub.add_parser("history", help="die letzten Läufe, neueste zuerst")
    past.add_argument("dataset", nargs="?", metavar="DATENSATZ", help="nur dieser Datensatz")
    past.add_argument("--limit", type=int, default=20, metavar="N", help="höchstens N Läufe (Standard: 20)")
    past.add_argument("--json", action="store_true", help="Ausgabe als JSON")
    past.set_defaults(handler=_history)

    serve = sub.add_parser("serve", help="den Zeitplandienst starten (root; startet mit der Plattform)")
    serve.add_argument("--mirror", help="Spiegel der Quellen (wie bei run)")
    serve.set_defaults(handler=_serve)


# --- helpers -----------------------------------------------------------------------------------------

def _settings():
    from bif_lib.platform.settings import load_settings

    return load_settings()


def _table(rows: list[dict[str, str]]) -> str:
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in rows[0]}
    lines = [{c: c for c in widths}, *rows]
    return "\n".join("  ".join(r[c].ljust(widths[c]) for c in widths).rstrip() for r in lines)


def _when(iso: str | None) -> str:
    from bif_lib.i18n import format_local_datetime

    return format_local_datetime(iso) if iso else "–"


def _last(record: dict | None) -> str:
    if not record:
        return "–"
    version = f" (v{record['version']})" if record.get("version") else ""
    return f"{_when(record.get('start'))} {record.get('outcome')}{version}"


def service_pid(settings) -> int | None:
    """The scheduler process of this installation, if it runs."""
    from bif_lib.processes import alive
    from bif_lib.schedule import history

    state = history.service_state(settings.home) or {}
    pid = state.get("pid")
    return pid if isinstance(pid, int) and alive(pid, SERVICE_MARKER) else None


# --- list -----------------------------------------------------------------------------------------

def _list(args) -> int:
    from bif_lib.i18n import format_local_datetime
    from bif_lib.schedule import history, runner
    from bif_lib.schedule.plan import load_plan
    from bif_lib.store import Store

    settings = _settings()
    plan = load_plan()
    store = Store(settings.store_dir)
    last = history.last_runs(settings.home)
    now = datetime.now(timezone.utc)
    running = service_pid(settings)
    rows, shown = [], []
    for target in plan.scheduled:
        upcoming = runner.next_run(target, settings.home, store, now)
        overdue = upcoming <= now
        rows.append({"dataset": target.dataset, "title": target.title, "schedule": target.schedule.to_dict(),
                     "description": target.schedule.describe(), "origin": target.origin,
                     "last_run": last.get(target.dataset), "next_run": upcoming.isoformat(), "due": overdue})
        if overdue:
            next_text = "fällig – läuft sofort" if running else "fällig (Zeitplandienst läuft nicht)"
        else:
            next_text = format_local_datetime(upcoming)
        shown.append({"Datensatz": target.dataset, "Zeitplan": target.schedule.describe(), "aus": target.origin,
                      "letzter Lauf": _last(last.get(target.dataset)), "nächster Lauf": next_text})
    if args.json:
        print(json.dumps({"service_pid": running, "scheduled": rows, "refused": plan.refused},
                         ensure_ascii=False, indent=1, default=str))
        return 0
    print(f"Zeitplandienst: {f'läuft (pid {running})' if running else 'läuft nicht'}; Zeiten in Europe/Berlin")
    print(_table(shown) if shown else f"(kein Datensatz im Stadtprofil {plan.profile.key} hat einen Zeitplan)")
    for dataset, reason in plan.refused.items():
        print(f"Nicht im Zeitplan: {dataset} – {reason}", file=sys.stderr)
    return 0


# --- run ---------------------------------------------------------------------------------------------

def _describe(record: dict) -> list[str]:
    from bif_lib.schedule.runner import describe_failure

    lines = [f"{record['dataset']}: {record['outcome']} – {record['message']}"]
    lines += [f"  - {describe_failure(f)}" for f in record.get("failures") or []]
    for app in record.get("apps") or []:
        if app["ok"]:
            lines.append(f"  App {app['app_id']!r} als Version {app['version']} neu veröffentlicht"
                         + "".join(f" (Hinweis: {n})" for n in app.get("notes") or []))
        else:
            lines.append(f"  {app['error']}")
    if record.get("mail"):
        lines.append(f"  E-Mail: {record['mail']}")
    if record.get("notice_closed"):
        lines.append("  Der Hinweis auf der Startseite ist geschlossen.")
    return lines


def _run(args) -> int:
    from bif_lib.schedule import runner
    from bif_lib.schedule.history import EXIT_BUSY, AlreadyRunning
    from bif_lib.schedule.plan import NotRefreshable

    settings = _settings()
    publish = False if args.no_publish else None
    try:
        if args.due:
            records = runner.run_due(settings=settings, mirror=args.mirror, publish=publish,
                                     trigger=args.trigger or runner.SCHEDULED, progress=progress)
        else:
            records = [runner.refresh(args.dataset, settings=settings, mirror=args.mirror, publish=publish,
                                      trigger=args.trigger or runner.MANUAL, run_id=args.run_id, progress=progress)]
    except (NotRefreshable, AlreadyRunning) as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}, ensure_ascii=False))
        print(str(exc), file=sys.stderr)
        return EXIT_BUSY if isinstance(exc, AlreadyRunning) else 1
    if args.json:
        print(json.dumps(records if args.due else records[0], ensure_ascii=False, indent=1, default=str))
    elif not records:
        print("Kein Datensatz ist fällig.")
    else:
        for record in records:
            print("\n".join(_describe(record)))
    return 1 if any(runner.failed(r) for r in records) else 0


# --- history --------------------------------------------------------------------------------------

def _history(args) -> int:
    from bif_lib.schedule import history

    settings = _settings()
    records = history.entries(settings.home, args.dataset)[::-1][:max(args.limit, 0)]
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=1, default=str))
        return 0
    if not records:
        print("(noch keine Läufe)" + (f" für {args.dataset}" if args.dataset else ""))
        return 0
    rows = [{"Beginn": _when(r.get("start")), "Ende": _when(r.get("end")), "Datensatz": r.get("dataset", ""),
             "Ergebnis": r.get("outcome") or "", "Version": str(r.get("version") or "–"),
             "Anlass": r.get("trigger") or "", "Meldung": (r.get("message") or "").replace("\n", " ")[:160]}
            for r in records]
    print(_table(rows))
    return 0


# --- serve -------------------------------------------------------------------------------------------

def _serve(args) -> int:
    from bif_lib.schedule.service import serve

    serve(_settings(), mirror=args.mirror)
    return 0
