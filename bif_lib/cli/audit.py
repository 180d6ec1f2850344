"""``bif audit show|verify|prune|serve``: the audit trail of confidential reads and releases."""

from __future__ import annotations

import json
import os
import sys

from bif_lib import audit


def register(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="Zugriffsprotokoll der Statistikstelle")
    sub = parser.add_subparsers(dest="audit_command", metavar="AKTION", required=True)
    show = sub.add_parser("show", help="Einträge anzeigen")
    show.add_argument("--dataset")
    show.add_argument("--user")
    show.add_argument("--event")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)
    verify = sub.add_parser("verify", help="Unversehrtheit der Hash-Kette prüfen")
    verify.set_defaults(handler=_verify)
    prune = sub.add_parser("prune", help=f"Jahre löschen, die älter als {audit.RETENTION_YEARS} Jahre sind")
    prune.add_argument("--before", type=int, required=True, metavar="JAHR")
    prune.set_defaults(handler=_prune)
    serve = sub.add_parser("serve", help="Protokolldienst starten (root; startet mit der Plattform)")
    serve.add_argument("--group", help="OS-Gruppe, die das Protokoll lesen darf (Statistikstelle)")
    serve.set_defaults(handler=_serve)


def _readable() -> bool:
    try:
        if not os.access(audit.audit_dir(), os.R_OK):  # a folder one may not list hides its files
            raise PermissionError(audit.audit_dir())
        audit.entries()
        return True
    except PermissionError:
        print(f"Kein Lesezugriff auf das Zugriffsprotokoll ({audit.audit_dir()}): es lesen nur die "
              "Statistikstelle und der Betrieb (root).", file=sys.stderr)
        return False


def _show(args) -> int:
    if not _readable():
        return 1
    shown = [e for e in audit.entries()
             if (args.dataset is None or e.get("dataset") == args.dataset)
             and (args.user is None or e.get("user") == args.user)
             and (args.event is None or e.get("event") == args.event)]
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=1))
        return 0
    if not shown:
        print("(keine Einträge)")
    for e in shown:
        what = f"{e['dataset']} v{e['version']}" if e.get("version") is not None else (e.get("dataset") or "")
        purpose = f" – Zweck: {e['purpose']}" if e.get("purpose") else ""
        print(f"{e['seq']:>6}  {e['time'][:19].replace('T', ' ')} UTC  {e['event']:<14} {e['user']:<16} {what}{purpose}")
    return 0


def _verify(args) -> int:
    if not _readable():
        return 1
    problems = audit.verify()
    if problems:
        print(f"Das Zugriffsprotokoll ist NICHT unversehrt ({len(problems)} Befund(e)):")
        for problem in problems:
            print(f"  {problem}")
        return 1
    print(f"Das Zugriffsprotokoll ist unversehrt: {len(audit.entries())} Einträge, Hash-Kette vollständig.")
    return 0


def _prune(args) -> int:
    from bif_lib.platform.settings import load_settings

    years = load_settings()["audit"]["retention_years"]
    try:
        dropped = audit.prune(args.before, retention_years=years)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"{len(dropped)} Jahresdatei(en) gelöscht; die Kette bleibt ab dem Anker prüfbar.")
    return 0


def _serve(args) -> int:
    audit.serve(args.group)
    return 0
