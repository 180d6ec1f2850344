"""``bif office request|approve|apply|init|remove|list``: membership of the Statistikstelle.

The break-glass procedure of ``bif_lib/platform/office.py``: an operator requests, a
different member approves from their own OS account, ``apply`` checks the approval in the
audit trail and admits the person. Every step is an audit entry.
"""

from __future__ import annotations

import json
import sys

from bif_lib.platform.office import PROCEDURE


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "office", help="Mitgliedschaft in der Statistikstelle (Break-glass-Verfahren, protokolliert)",
        description=f"Aufnahme in die abgeschottete Statistikstelle nur mit Antrag und Zustimmung eines anderen "
                    f"Mitglieds; jeder Schritt steht im Zugriffsprotokoll. Siehe {PROCEDURE}.")
    sub = parser.add_subparsers(dest="office_command", metavar="AKTION", required=True)

    request = sub.add_parser("request", help="Aufnahme beantragen (Betrieb, als root)")
    request.add_argument("name", metavar="NAME", help="lokales BIF-Konto, das aufgenommen werden soll")
    request.add_argument("--reason", required=True, metavar="TEXT", help="Begründung (steht im Protokoll)")
    request.set_defaults(handler=_request)

    approve = sub.add_parser("approve", help="einem Antrag zustimmen (ein anderes Mitglied, unter dem eigenen Konto)")
    approve.add_argument("request_id", metavar="ANTRAG", help="Antragsnummer (sechs Zeichen)")
    approve.add_argument("--name", metavar="NAME", help="die aufzunehmende Person (empfohlen: wird mitgeprüft)")
    approve.set_defaults(handler=_approve)

    apply = sub.add_parser("apply", help="Anträge mit gültiger Zustimmung wirksam machen (Betrieb, als root)")
    apply.set_defaults(handler=_apply)

    init = sub.add_parser("init", help="erstes Mitglied aufnehmen (einmalig, solange die Statistikstelle leer ist)")
    init.add_argument("name", metavar="NAME")
    how = init.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true",
                     help="neues Konto: Passwort von der Standardeingabe lesen")
    how.add_argument("--generate", action="store_true", help="neues Konto: zufälliges Passwort erzeugen und anzeigen")
    init.set_defaults(handler=_init)

    remove = sub.add_parser("remove", help="Mitglied aus der Statistikstelle nehmen (Betrieb; wird protokolliert)")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--group", "-g", action="append", metavar="GRUPPE",
                        help="Gruppen danach (Standard: die übrigen Gruppen der Person)")
    remove.add_argument("--reason", metavar="TEXT", help="Anlass (steht im Protokoll)")
    remove.set_defaults(handler=_remove)

    listing = sub.add_parser("list", help="Mitglieder, offene Anträge und Verlauf anzeigen")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)


def _guarded(action) -> int:
    from bif_lib.audit import AuditUnavailable
    from bif_lib.cli.users import run_guarded

    def wrapped():
        try:
            return action()
        except AuditUnavailable as e:
            print(f"Fehler: {e}", file=sys.stderr)
            return 1
        except PermissionError as e:
            print(f"Fehler: keine Berechtigung ({e.filename or e}). Dieser Schritt gehört dem Betrieb (root) "
                  "oder, bei der Zustimmung, einem Mitglied unter seinem eigenen Konto.", file=sys.stderr)
            return 1
    return run_guarded(wrapped)


def _settings():
    from bif_lib.platform.settings import load_settings

    return load_settings()


def _request(args) -> int:
    def action():
        from bif_lib.platform import office

        settings = _settings()
        record = office.request(settings, args.name, args.reason)
        print(f"Antrag {record['id']}: {record['name']} in die Statistikstelle aufnehmen "
              f"(beantragt von {record['requester']['user']}).")
        print(f"Zustimmen muss ein anderes Mitglied der Statistikstelle unter seinem eigenen Konto, z. B. im "
              f"Terminal seiner JupyterLab: bif office approve {record['id']} --name {record['name']}")
        print("Danach macht `bif office apply` (Betrieb) die Aufnahme wirksam.")
    return _guarded(action)


def _approve(args) -> int:
    def action():
        from bif_lib.platform import office

        entry = office.approve(_settings(), args.request_id, args.name)
        print(f"Zustimmung zu Antrag {args.request_id.strip().lower()} protokolliert (Eintrag {entry['seq']}, "
              f"{entry['user']}, Konto {entry['account']}).")
        print("Wirksam wird sie, wenn der Betrieb `bif office apply` ausführt; dabei wird geprüft, dass Sie "
              "Mitglied sind und den Antrag nicht selbst gestellt haben.")
    return _guarded(action)


def _report(settings, outcomes) -> int:
    from bif_lib.cli.users import end_hub_session

    for outcome in outcomes:
        if outcome["granted"]:
            print(f"Antrag {outcome['request']}: {outcome['name']} ist in die Statistikstelle aufgenommen "
                  f"(Zustimmung: {outcome['approver']}).")
            end_hub_session(settings, outcome["name"])
        else:
            print(f"Antrag {outcome['request']}: Zustimmung von {outcome['approver']} abgelehnt – "
                  f"{outcome['reason']}.", file=sys.stderr)
    return 0


def _apply(args) -> int:
    def action():
        from bif_lib.platform import office

        settings = _settings()
        outcomes = office.apply(settings)
        if not outcomes:
            print("Keine neuen Zustimmungen.")
        return _report(settings, outcomes)
    return _guarded(action)


def _init(args) -> int:
    def action():
        from bif_lib.cli.users import _read_password, end_hub_session
        from bif_lib.platform import office
        from bif_lib.platform.auth import UserStore

        settings = _settings()
        store = UserStore.from_settings(settings)
        password, generated = (None, False)
        if store.get(args.name) is None:
            password, generated = _read_password(args, store)
        done = office.init(settings, args.name, password=password, store=store)
        print(f"{done['name']} ist das erste Mitglied der Statistikstelle (einmalige Einrichtung, protokolliert). "
              "Weitere Mitglieder nur mit `bif office request` und Zustimmung eines Mitglieds.")
        if generated:
            print(f"Passwort: {password}")
        end_hub_session(settings, done["name"])
    return _guarded(action)


def _remove(args) -> int:
    def action():
        from bif_lib.cli.users import end_hub_session
        from bif_lib.platform import office

        settings = _settings()
        done = office.remove(settings, args.name, keep_groups=args.group, reason=args.reason)
        print(f"{done['name']} ist nicht mehr Mitglied der Statistikstelle (protokolliert); "
              f"Gruppen jetzt: {', '.join(done['groups'])}")
        end_hub_session(settings, done["name"])
    return _guarded(action)


def _list(args) -> int:
    import os

    def action():
        from bif_lib.platform import office

        settings = _settings()
        if os.geteuid() != 0 and not office._single_account_mode(settings):
            found = office.open_requests_from_trail(settings)
            if args.json:
                print(json.dumps({"open_requests": found}, ensure_ascii=False, indent=2))
                return 0
            print("Offene Anträge laut Zugriffsprotokoll (Mitglieder und Verlauf sieht nur der Betrieb):")
            for r in found:
                print(f"  {r['id']}  {r['name']}  beantragt {r['time'][:16].replace('T', ' ')} von {r['by']}: "
                      f"{r['reason']}")
            if not found:
                print("  (keine)")
            return 0
        data = office.overview(settings)
        if args.json:
            print(json.dumps(data, ensure_ascii=False, indent=2))
            return 0
        print("Mitglieder der Statistikstelle:")
        for member in data["members"]:
            admitted = member["admitted"]
            how = ("ohne protokollierte Aufnahme!" if admitted is None else
                   f"seit {admitted['time'][:10]}, " + ("Ersteinrichtung" if admitted["event"] == "init" else
                                                        f"Antrag {admitted['request']}, Zustimmung {admitted['by']}"))
            print(f"  {member['name']:<24} {how}")
        if not data["members"]:
            print("  (keine – erstes Mitglied mit `bif office init NAME`)")
        if data["unrecorded"]:
            print(f"WARNUNG: nicht über das Verfahren aufgenommen (Benutzerdatei von Hand geändert?): "
                  f"{', '.join(data['unrecorded'])}. Prüfen und ggf. mit `bif office remove` entfernen.")
        if data["missing"]:
            print(f"Hinweis: laut Verfahren Mitglied, in der Benutzerdatei aber nicht: {', '.join(data['missing'])}")
        print("Offene Anträge:")
        for r in data["open_requests"]:
            print(f"  {r['id']}  {r['name']:<20} von {r['requester']['user']} am {r['time'][:16].replace('T', ' ')}: "
                  f"{r['reason']}")
            for a in r["approvals"]:
                state = "gültig – wird mit `bif office apply` wirksam" if a["valid"] else f"ungültig: {a['reason']}"
                print(f"          Zustimmung von {a['user']} ({a['time'][:16].replace('T', ' ')}): {state}")
            for refused in r.get("refused", []):
                print(f"          abgelehnt: Zustimmung von {refused['user']} – {refused['reason']}")
        if not data["open_requests"]:
            print("  (keine)")
        print("Verlauf:")
        labels = {"init": "Ersteinrichtung", "request": "Antrag", "grant": "Aufnahme", "remove": "Austritt"}
        for event in data["history"]:
            extra = f" (Antrag {event['request']})" if event.get("request") else ""
            print(f"  {event['time'][:16].replace('T', ' ')}  {labels.get(event['event'], event['event']):<16} "
                  f"{event['name']:<20} durch {event['by']}{extra}  [Protokoll {event['seq']}]")
        return 0
    return _guarded(action)
