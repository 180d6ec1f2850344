"""``bif users add|list|set-groups|passwd|remove``: local BIF accounts (auth.backend: local).

Changes take effect at the person's next login. If the platform runs, ``set-groups``,
``passwd`` and ``remove`` also end the person's hub session (and stop their server),
so that removed permissions do not linger.

Nobody is put into the Statistikstelle here: that is the break-glass procedure of
``bif office`` (``add``/``set-groups`` refuse it, and leaving it goes through
``bif office remove``; ``remove`` of a member records the removal in the audit trail).
"""

from __future__ import annotations

import getpass
import sys

from bif_lib.platform.settings import BIF_GROUPS


def register(subparsers) -> None:
    parser = subparsers.add_parser("users", help="lokale BIF-Konten verwalten")
    sub = parser.add_subparsers(dest="users_command", metavar="AKTION", required=True)
    groups_help = f"BIF-Gruppe, mehrfach möglich: {', '.join(BIF_GROUPS)}"

    add = sub.add_parser("add", help="Konto anlegen")
    add.add_argument("name")
    add.add_argument("--group", "-g", action="append", required=True, choices=BIF_GROUPS, help=groups_help)
    _password_options(add)
    add.set_defaults(handler=_add)

    listing = sub.add_parser("list", help="Konten und Gruppen anzeigen")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    groups = sub.add_parser("set-groups", help="Gruppen eines Kontos ersetzen")
    groups.add_argument("name")
    groups.add_argument("--group", "-g", action="append", required=True, choices=BIF_GROUPS, help=groups_help)
    groups.set_defaults(handler=_set_groups)

    passwd = sub.add_parser("passwd", help="Passwort ändern")
    passwd.add_argument("name")
    _password_options(passwd)
    passwd.set_defaults(handler=_passwd)

    remove = sub.add_parser("remove", help="Konto löschen")
    remove.add_argument("name")
    remove.add_argument("--delete-os-account", action="store_true",
                        help="auch das Systemkonto samt Home-Verzeichnis löschen (Arbeitsstände gehen verloren)")
    remove.set_defaults(handler=_remove)


def _password_options(parser) -> None:
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="Passwort von der Standardeingabe lesen")
    how.add_argument("--generate", action="store_true", help="zufälliges Passwort erzeugen und anzeigen")


def _read_password(args, store) -> tuple[str, bool]:
    """(password, generated) from --generate, --password-stdin or an interactive prompt."""
    from bif_lib.platform.auth import generate_password

    if args.generate:
        return generate_password(), True
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if not sys.stdin.isatty():
        raise SystemExit("Fehler: --password-stdin oder --generate angeben (keine Konsole)")
    first = getpass.getpass(f"Passwort (mindestens {store.min_password_length} Zeichen): ")
    if getpass.getpass("Passwort wiederholen: ") != first:
        raise SystemExit("Fehler: Die Passwörter stimmen nicht überein")
    return first, False


def user_store():
    from bif_lib.platform.auth import UserStore
    from bif_lib.platform.settings import load_settings

    settings = load_settings()
    if settings["auth"]["backend"] != "local":
        print(f"Hinweis: auth.backend ist {settings['auth']['backend']!r}; lokale Konten werden "
              "nur mit auth.backend: local verwendet.", file=sys.stderr)
    return settings, UserStore.from_settings(settings)


def end_hub_session(settings, name: str) -> None:
    """Remove the person from the running hub: their server stops, sessions end; at the
    next login they come back with the groups of the user store."""
    import urllib.error

    from bif_lib.platform import launcher

    if not launcher.hub_running(settings):
        return
    try:
        launcher.hub_api(settings, "DELETE", f"/users/{name}", timeout=60)
        print(f"{name}: Sitzung im Hub beendet; gilt ab der nächsten Anmeldung.")
    except urllib.error.HTTPError as e:
        if e.code != 404:
            print(f"Warnung: Hub-Sitzung von {name} nicht beendet ({e.code})", file=sys.stderr)


def run_guarded(action) -> int:
    from bif_lib.platform.accounts import AccountError
    from bif_lib.platform.auth import UserStoreError
    from bif_lib.platform.settings import SettingsError

    try:
        return action() or 0
    except (UserStoreError, SettingsError, AccountError) as e:
        print(f"Fehler: {e}", file=sys.stderr)
        return 1


def _add(args) -> int:
    def action():
        from bif_lib.platform.office import check_group_change

        check_group_change(args.name, args.group)
        settings, store = user_store()
        password, generated = _read_password(args, store)
        store.add(args.name, args.group, password)
        print(f"Konto {args.name.lower()} angelegt, Gruppen: {', '.join(sorted(set(args.group)))}")
        if generated:
            print(f"Passwort: {password}")
    return run_guarded(action)


def _list(args) -> int:
    import json

    def action():
        _, store = user_store()
        users = store.users()
        if args.json:
            print(json.dumps({n: {"groups": u["groups"], "created": u["created"]} for n, u in users.items()},
                             ensure_ascii=False, indent=2))
            return
        if not users:
            print("(keine Konten)")
            return
        width = max(len(n) for n in users)
        print(f"{'Name'.ljust(width)}  Gruppen")
        for name in sorted(users):
            print(f"{name.ljust(width)}  {', '.join(users[name]['groups'])}")
    return run_guarded(action)


def _set_groups(args) -> int:
    def action():
        from bif_lib.platform.office import check_group_change

        settings, store = user_store()
        current = store.get(args.name)
        check_group_change(args.name, args.group, current["groups"] if current else ())
        store.set_groups(args.name, args.group)
        print(f"Gruppen von {args.name.lower()}: {', '.join(sorted(set(args.group)))}")
        end_hub_session(settings, args.name.lower())
    return run_guarded(action)


def _passwd(args) -> int:
    def action():
        settings, store = user_store()
        if store.get(args.name) is None:
            print(f"Fehler: Benutzer {args.name!r} existiert nicht", file=sys.stderr)
            return 1
        password, generated = _read_password(args, store)
        store.set_password(args.name, password)
        print(f"Passwort von {args.name.lower()} geändert")
        if generated:
            print(f"Passwort: {password}")
        end_hub_session(settings, args.name.lower())
    return run_guarded(action)


def _remove(args) -> int:
    def action():
        from bif_lib.platform import accounts, office

        settings, store = user_store()
        name = args.name.lower()
        entry = store.get(name)
        if (entry is not None and office.OFFICE_GROUP in entry["groups"]
                and settings["auth"]["backend"] == "local"):
            # leaving the office is always recorded, also when the whole account goes
            office.remove(settings, name, reason="Konto gelöscht (bif users remove)", store=store,
                          account_deleted=True)
            print(f"{name}: Austritt aus der Statistikstelle protokolliert")
        store.remove(name)
        print(f"Konto {name} gelöscht")
        end_hub_session(settings, name)
        if args.delete_os_account and accounts.can_separate_accounts(settings):
            if accounts.remove_user_account(name, settings, delete_home=True):
                print(f"Systemkonto {accounts.os_account_name(name, settings)} samt Home gelöscht")
        elif accounts.can_separate_accounts(settings):
            print("Das Systemkonto und sein Home-Verzeichnis bleiben erhalten "
                  "(löschen mit --delete-os-account).")
    return run_guarded(action)
