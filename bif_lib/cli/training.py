"""``bif training start|list|end``: accounts for an onboarding session (see platform/cohorts.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from bif_lib.platform.settings import BIF_GROUPS


def register(subparsers) -> None:
    parser = subparsers.add_parser("training", help="Schulungsgruppen: Konten für eine Schulung anlegen und entfernen")
    sub = parser.add_subparsers(dest="training_command", metavar="AKTION", required=True)

    start = sub.add_parser("start", help="Konten einer Schulungsgruppe anlegen (Passwörter werden erzeugt)")
    start.add_argument("cohort", metavar="GRUPPE", help="Name der Schulungsgruppe, z. B. grundkurs")
    start.add_argument("--size", "-n", type=int, required=True, help="Anzahl der Konten (1 bis 99)")
    start.add_argument("--group", "-g", action="append", choices=BIF_GROUPS,
                       help="BIF-Gruppe der Konten (Standard: analysts; nie statistikstelle: "
                            "Aufnahme dort nur mit `bif office`)")
    start.add_argument("--handout", type=Path, metavar="DATEI",
                       help="Zugangsdaten zusätzlich als CSV-Datei für Excel schreiben (nur für Sie lesbar)")
    start.set_defaults(handler=_start)

    listing = sub.add_parser("list", help="laufende Schulungsgruppen anzeigen")
    listing.set_defaults(handler=_list)

    end = sub.add_parser("end", help="alle Konten einer Schulungsgruppe entfernen")
    end.add_argument("cohort", metavar="GRUPPE")
    end.add_argument("--delete-os-accounts", action="store_true",
                     help="auch die Systemkonten samt Home-Verzeichnissen löschen (Arbeitsstände gehen verloren)")
    end.set_defaults(handler=_end)


def _start(args) -> int:
    from bif_lib.cli.users import run_guarded, user_store
    from bif_lib.platform import cohorts

    def action():
        settings, store = user_store()
        accounts = cohorts.create_cohort(store, args.cohort, args.size, args.group or cohorts.DEFAULT_GROUPS)
        url = settings.public_url
        print(f"Schulungsgruppe {args.cohort.lower()}: {len(accounts)} Konten angelegt "
              f"(Gruppen: {', '.join(sorted(set(args.group or cohorts.DEFAULT_GROUPS)))})")
        print(f"Anmeldung: {url}   Schulungs-Notebooks: ~/{_templates_folder(settings)}/Schulung")
        width = max(len(a.name) for a in accounts)
        print(f"{'Konto'.ljust(width)}  Passwort")
        for account in accounts:
            print(f"{account.name.ljust(width)}  {account.password}")
        if args.handout:
            cohorts.write_handout(args.handout, accounts, url)
            print(f"Zugangsdaten gespeichert in {args.handout}")
    return run_guarded(action)


def _list(args) -> int:
    from bif_lib.cli.users import run_guarded, user_store
    from bif_lib.platform import cohorts

    def action():
        _, store = user_store()
        found = cohorts.cohorts(store)
        if not found:
            print("(keine Schulungsgruppen)")
        for cohort, names in found.items():
            print(f"{cohort}: {len(names)} Konten ({names[0]} … {names[-1]})")
    return run_guarded(action)


def _end(args) -> int:
    from bif_lib.cli.users import end_hub_session, run_guarded, user_store
    from bif_lib.platform import accounts, cohorts

    def action():
        settings, store = user_store()
        names = cohorts.remove_cohort(store, args.cohort)
        for name in names:
            end_hub_session(settings, name)
            if args.delete_os_accounts and accounts.can_separate_accounts(settings):
                accounts.remove_user_account(name, settings, delete_home=True)
        print(f"Schulungsgruppe {args.cohort.lower()} beendet: {len(names)} Konten entfernt")
        if accounts.can_separate_accounts(settings) and not args.delete_os_accounts:
            print("Die Systemkonten und ihre Home-Verzeichnisse bleiben erhalten (löschen mit --delete-os-accounts).",
                  file=sys.stderr)
    return run_guarded(action)


def _templates_folder(settings) -> str:
    return settings["notebooks"]["target"]
