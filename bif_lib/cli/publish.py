"""``bif publish app|list|rollback|withdraw``: publish notebooks as apps and manage them.

    bif publish app notebooks/apps/schulbedarf.ipynb   check and publish (a new version goes live)
    bif publish app --bundled                          the apps in notebooks/apps (unchanged ones skipped)
    bif publish list [--json]                          all apps: live version, title, audience, publisher
    bif publish rollback schulbedarf [--to 2]          the previous (or given) version goes live again
    bif publish withdraw schulbedarf                   out of the gallery (versions kept; rollback brings it back)

Publishing is what the command is named for, so ``app`` may be left out:
``bif publish NOTEBOOK …`` and ``bif publish --bundled`` (scripts/start) mean ``bif publish
app …``. The flags of BIF before the sub-commands (``--list``, ``--rollback APP``,
``--withdraw APP``) are still understood, with a hint on the new form.

Changing apps needs write access to the app registry (root, or the platform's account in
single-account mode); everybody else is refused before anything runs. Analysts publish
from JupyterLab (``publish_from_lab``), through the apps service and its publish scope.
"""

from __future__ import annotations

import json
import sys

from bif_lib import config as bif_config

COMMANDS = ("app", "list", "rollback", "withdraw")
# BIF's flags before the sub-commands: flag -> (sub-command, takes the app id as its value)
OLD_FLAGS = {"--list": ("list", False), "--rollback": ("rollback", True), "--withdraw": ("withdraw", True)}
NOT_ALLOWED = ("Keine Berechtigung: Apps veröffentlichen, zurückrollen und zurückziehen darf auf dem Server nur der "
               "Betrieb (als root bzw. mit dem Konto der Plattform), denn dabei wird das App-Verzeichnis {root} "
               "geändert. Analystinnen und Analysten veröffentlichen aus JupyterLab: "
               "publish_from_lab(\"Notebook.ipynb\") (Rolle bif-apps-publisher).")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "publish", help="Notebooks als Apps veröffentlichen, Apps auflisten, zurückrollen oder zurückziehen",
        description="Prüft ein Notebook (läuft es fehlerfrei? Metadaten? dürfen die Zielgruppen die Daten "
                    "sehen?) und veröffentlicht es als neue Version einer App in der Galerie; verwaltet die "
                    "veröffentlichten Apps. Kurzform: bif publish NOTEBOOK (= bif publish app NOTEBOOK).")
    sub = parser.add_subparsers(dest="publish_command", metavar="AKTION", required=True)
    _accept_short_forms(parser)  # after add_subparsers: the sub-commands' parsers keep the plain class

    app = sub.add_parser("app", help="ein Notebook prüfen und als neue Version veröffentlichen (Standard)")
    target = app.add_mutually_exclusive_group()
    target.add_argument("notebook", nargs="?", help="Pfad zum Notebook (.ipynb)")
    target.add_argument("--bundled", action="store_true",
                        help="die mitgelieferten Apps aus notebooks/apps veröffentlichen (unveränderte überspringen)")
    app.add_argument("--app-id", help="App-Kennung (Standard: bif.id aus den Metadaten oder der Dateiname)")
    app.add_argument("--json", action="store_true", help="Ausgabe als JSON")
    app.set_defaults(handler=_publish)

    listing = sub.add_parser("list", help="alle Apps: aktive Version, Titel, Zielgruppe, wer/wann")
    listing.add_argument("--json", action="store_true", help="Ausgabe als JSON")
    listing.set_defaults(handler=_list)

    back = sub.add_parser("rollback", help="eine frühere Version wieder aktivieren (auch eine zurückgezogene App)")
    back.add_argument("app_id", metavar="APP", help="App-Kennung")
    back.add_argument("--to", type=int, metavar="VERSION",
                      help="diese Version (Standard: die vorige; bei einer zurückgezogenen App die zuletzt aktive)")
    back.add_argument("--json", action="store_true", help="Ausgabe als JSON")
    back.set_defaults(handler=_rollback)

    away = sub.add_parser("withdraw", help="App aus der Galerie nehmen (Versionen bleiben, rollback holt sie zurück)")
    away.add_argument("app_id", metavar="APP", help="App-Kennung")
    away.add_argument("--json", action="store_true", help="Ausgabe als JSON")
    away.set_defaults(handler=_withdraw)


def modern_args(args: list[str]) -> list[str]:
    """The arguments after ``bif publish`` in today's form: ``NOTEBOOK …`` and ``--bundled``
    become ``app …``; ``--list``, ``--rollback APP`` and ``--withdraw APP`` (anywhere among
    the arguments) become their sub-commands."""
    if not args or args[0] in COMMANDS or args[0] in ("-h", "--help"):
        return list(args)
    for i, arg in enumerate(args):
        flag, has_value, value = arg.partition("=")
        if flag in OLD_FLAGS:
            command, takes_app = OLD_FLAGS[flag]
            taken = 1 + (takes_app and not has_value)
            operand = [value] if has_value else args[i + 1:i + taken]
            print(f"Hinweis: „bif publish {flag}“ heißt jetzt „bif publish {command}“.", file=sys.stderr)
            return [command, *operand, *args[:i], *args[i + taken:]]
    return ["app", *args]


def _accept_short_forms(parser) -> None:
    """Let ``parser`` (``bif publish``) read its arguments through ``modern_args``."""
    base = type(parser)

    class PublishParser(base):
        def parse_known_args(self, args=None, namespace=None):
            return super().parse_known_args(args if args is None else modern_args(args), namespace)

    parser.__class__ = PublishParser


# --- the actions ---------------------------------------------------------------------------------

def _setup():
    """(apps config, registry, the person at the terminal)."""
    # imported here: `bif --help` must stay fast
    from bif_lib.apps.config import AppsConfig
    from bif_lib.apps.registry import Registry

    cfg = AppsConfig.current()
    return cfg, Registry(cfg.apps_dir), bif_config.current_user()


def _changing(done: str):
    """Decorator for the actions that change apps (publish, rollback, withdraw): an account that
    may not change the registry is refused before anything runs; refusals are German, exit
    code 1, with ``--json`` also ``{done: false, "reasons": [...]}`` on stdout."""
    def wrap(action):
        def run(args) -> int:
            from bif_lib.apps.publishing.publish import PublishError

            cfg, registry, user = _setup()
            try:
                if not registry.writable():
                    raise PermissionError(None, "registry not writable", str(registry.root))
                return action(args, cfg, registry, user)
            except PublishError as e:
                return _refused(args, done, e.app_id, e.reasons, e.german())
            except PermissionError as e:
                if not str(e.filename or "").startswith(str(registry.root)):
                    raise  # e.g. the notebook itself is not readable: the CLI's own message
                message = NOT_ALLOWED.format(root=registry.root)
                return _refused(args, done, getattr(args, "app_id", None), [message], message)
        return run
    return wrap


def _refused(args, done: str, app_id: str | None, reasons: list[str], text: str) -> int:
    if args.json:
        print(json.dumps({done: False, "app_id": app_id, "reasons": reasons}, ensure_ascii=False))
    print(text, file=sys.stderr)
    return 1


def _publish(args) -> int:
    if not args.bundled and not args.notebook:
        print("Bitte ein Notebook angeben: bif publish NOTEBOOK (oder bif publish --bundled).", file=sys.stderr)
        return 2
    return _publish_checked(args)


@_changing("published")
def _publish_checked(args, cfg, registry, user) -> int:
    if args.bundled:
        return _publish_bundled(cfg, registry, user)
    from bif_lib.apps.publishing.publish import publish_notebook

    print(f"… prüfe {args.notebook} (läuft das Notebook fehlerfrei durch?)", file=sys.stderr, flush=True)
    result = publish_notebook(args.notebook, published_by=user, app_id=args.app_id, cfg=cfg, registry=registry)
    message = f"App {result.app_id!r} als Version {result.version} veröffentlicht: {cfg.service_prefix}app/{result.app_id}/"
    _say(args.json, {"published": True, "app_id": result.app_id, "version": result.version,
                     "pool_refreshed": result.pool_refreshed}, message, result.notes)
    return 0


def _publish_bundled(cfg, registry, user: str) -> int:
    """Publish notebooks/apps/*.ipynb whose data this city has (the others are named with the
    datasets they lack); an app whose live version is identical is left alone."""
    from bif_lib.apps.publishing.bundled import publish_bundled

    return publish_bundled(cfg, registry, user)


@_changing("rolled_back")
def _rollback(args, cfg, registry, user) -> int:
    from bif_lib.apps.publishing.publish import rollback

    result = rollback(args.app_id, args.to, by=user, cfg=cfg, registry=registry)
    _say(args.json, {"rolled_back": True, "app_id": result.app_id, "version": result.version,
                     "pool_refreshed": result.pool_refreshed},
         f"App {result.app_id!r}: Version {result.version} ist jetzt aktiv "
         f"(„{result.app.meta.get('title', result.app_id)}“).", result.notes)
    return 0


@_changing("withdrawn")
def _withdraw(args, cfg, registry, user) -> int:
    from bif_lib.apps.publishing.publish import withdraw

    result = withdraw(args.app_id, by=user, cfg=cfg, registry=registry)
    versions = registry.versions(result.app_id)
    _say(args.json, {"withdrawn": True, "app_id": result.app_id, "version": result.version, "versions": versions,
                     "pool_dropped": result.pool_refreshed},
         f"App {result.app_id!r} („{result.app.meta.get('title', result.app_id)}“) ist zurückgezogen: sie "
         f"erscheint nicht mehr in der Galerie und lässt sich nicht mehr öffnen. Ihre Versionen "
         f"({', '.join(map(str, versions))}) bleiben erhalten; „bif publish rollback {result.app_id}“ macht "
         f"Version {result.version} wieder verfügbar.")
    return 0


def _list(args) -> int:
    """Every app with its live version (or the one withdrawn), title, audience, who published it
    and when (German; ``--json``: the raw values)."""
    from bif_lib.apps.serving.gallery import german_datetime, item_for

    cfg, registry, _ = _setup()
    rows, lines = [], []
    for app_id in registry.app_ids(withdrawn=True):
        current, withdrawal = registry.current_version(app_id), registry.withdrawal(app_id)
        shown = registry.get(app_id, current or (withdrawal or {}).get("version") or registry.versions(app_id)[-1])
        item = item_for(shown, cfg.service_prefix)  # German title, audience and date, as in the gallery
        rows.append({"app_id": app_id, "current": current, "versions": registry.versions(app_id),
                     "title": shown.meta.get("title"), "audience": shown.meta.get("audience"),
                     "owner": shown.meta.get("owner"), "published_by": shown.meta.get("published_by"),
                     "published_at": shown.meta.get("published_at"), "withdrawn": withdrawal})
        state = str(current) if current else (f"zurückgezogen {german_datetime(withdrawal['at'])}" if withdrawal
                                              else "zurückgezogen")
        lines.append({"App": app_id, "Version": state, "vorhanden": ", ".join(map(str, rows[-1]["versions"])),
                      "Titel": item.title, "Zielgruppe": item.audience,
                      "veröffentlicht von": shown.meta.get("published_by") or "–", "am": item.published})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif not rows:
        print("(keine Apps veröffentlicht)")
    else:
        print(_table(lines))
    return 0


def _table(lines: list[dict[str, str]]) -> str:
    widths = {c: max(len(c), *(len(line[c]) for line in lines)) for c in lines[0]}
    rows = [{c: c for c in widths}, *lines]
    return "\n".join("  ".join(row[c].ljust(widths[c]) for c in widths).rstrip() for row in rows)


def _say(as_json: bool, data: dict, text: str, notes: list[str] = ()) -> None:
    print(json.dumps(data, ensure_ascii=False) if as_json else
          "\n".join([text, *(f"Hinweis: {note}" for note in notes)]))
