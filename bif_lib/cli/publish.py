"""``bif publish``: publish a notebook as an app, list apps, roll back, withdraw.

    bif publish notebooks/apps/schulbedarf.ipynb      check and publish (new version)
    bif publish --list                                all apps with their versions
    bif publish --rollback schulbedarf [--to 2]       previous (or given) version goes live
    bif publish --withdraw schulbedarf                remove from gallery (versions are kept)
    bif publish --bundled                             the apps in notebooks/apps (unchanged ones skipped)
"""

from __future__ import annotations

import json
import sys

from bif_lib import config as bif_config


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "publish", help="Notebook als App veröffentlichen, Apps auflisten oder zurückrollen",
        description="Prüft ein Notebook (läuft es fehlerfrei? Metadaten? dürfen die Zielgruppen die Daten "
                    "sehen?) und veröffentlicht es als neue Version einer App in der Galerie.")
    parser.add_argument("notebook", nargs="?", help="Pfad zum Notebook (.ipynb)")
    parser.add_argument("--app-id", help="App-Kennung (Standard: bif.id aus den Metadaten oder der Dateiname)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="alle veröffentlichten Apps anzeigen")
    action.add_argument("--rollback", metavar="APP", help="eine frühere Version der App aktivieren")
    action.add_argument("--withdraw", metavar="APP", help="App aus der Galerie nehmen (Versionen bleiben erhalten)")
    action.add_argument("--bundled", action="store_true",
                        help="die mitgelieferten Apps aus notebooks/apps veröffentlichen (unveränderte überspringen)")
    parser.add_argument("--to", type=int, metavar="VERSION", help="mit --rollback: diese Version aktivieren")
    parser.add_argument("--json", action="store_true", help="Ausgabe als JSON")
    parser.set_defaults(handler=_run)


def _run(args) -> int:
    # imported here: `bif --help` must stay fast
    from bif_lib.apps.serving import pools
    from bif_lib.apps.config import AppsConfig
    from bif_lib.apps.publishing.publish import PublishError, publish_notebook, rollback
    from bif_lib.apps.registry import Registry, RegistryError

    cfg = AppsConfig.current()
    registry = Registry(cfg.apps_dir)
    user = bif_config.current_user()
    if args.to is not None and not args.rollback:
        print("--to gibt es nur zusammen mit --rollback.", file=sys.stderr)
        return 2
    if args.list:
        return _list(registry, args.json)
    if args.rollback:
        try:
            result = rollback(args.rollback, args.to, by=user, cfg=cfg, registry=registry)
        except PublishError as e:
            print(e.german(), file=sys.stderr)
            return 1
        _say(args.json, {"app_id": result.app_id, "version": result.version, "pool_refreshed": result.pool_refreshed},
             f"App {result.app_id!r}: Version {result.version} ist jetzt aktiv.")
        return 0
    if args.withdraw:
        try:
            registry.remove_app(args.withdraw)
        except (RegistryError, FileNotFoundError) as e:
            print(f"App {args.withdraw!r} konnte nicht zurückgezogen werden: {e}", file=sys.stderr)
            return 1
        pools.drop_pool(cfg, args.withdraw)
        _say(args.json, {"app_id": args.withdraw, "withdrawn": True},
             f"App {args.withdraw!r} ist nicht mehr in der Galerie.")
        return 0
    if args.bundled:
        return _publish_bundled(cfg, registry, user)
    if not args.notebook:
        print("Bitte ein Notebook angeben (oder --list / --rollback APP).", file=sys.stderr)
        return 2
    print(f"… prüfe {args.notebook} (läuft das Notebook fehlerfrei durch?)", file=sys.stderr, flush=True)
    try:
        result = publish_notebook(args.notebook, published_by=user, app_id=args.app_id, cfg=cfg, registry=registry)
    except PublishError as e:
        if args.json:
            print(json.dumps({"published": False, "app_id": e.app_id, "reasons": e.reasons}, ensure_ascii=False))
        print(e.german(), file=sys.stderr)
        return 1
    message = f"App {result.app_id!r} als Version {result.version} veröffentlicht: {cfg.service_prefix}app/{result.app_id}/"
    for note in result.notes:
        message += f"\nHinweis: {note}"
    _say(args.json, {"published": True, "app_id": result.app_id, "version": result.version,
                     "pool_refreshed": result.pool_refreshed}, message)
    return 0


def _publish_bundled(cfg, registry, user: str) -> int:
    """Publish notebooks/apps/*.ipynb; an app whose live version is identical is left alone."""
    from bif_lib.apps.publishing.publish import PublishError, is_live, publish_notebook

    failed = 0
    for notebook in sorted((bif_config.PROJECT_ROOT / "notebooks" / "apps").glob("*.ipynb")):
        if is_live(notebook, cfg=cfg, registry=registry):
            print(f"{notebook.name}: unverändert veröffentlicht – nichts zu tun.")
            continue
        print(f"… prüfe und veröffentliche {notebook.name}", file=sys.stderr, flush=True)
        try:
            result = publish_notebook(notebook, published_by=user, cfg=cfg, registry=registry)
        except PublishError as e:
            print(e.german(), file=sys.stderr)
            failed += 1
            continue
        print(f"{notebook.name}: App {result.app_id!r} Version {result.version} veröffentlicht.")
    return 1 if failed else 0


def _list(registry, as_json: bool) -> int:
    from bif_lib.apps.serving.gallery import german_datetime

    rows = []
    for app_id in registry.app_ids():
        app = registry.current(app_id)
        rows.append({"app_id": app_id, "current": app.version, "versions": registry.versions(app_id),
                     "title": app.meta.get("title"), "audience": app.meta.get("audience"),
                     "owner": app.meta.get("owner"), "published_at": app.meta.get("published_at")})
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print("(keine Apps veröffentlicht)")
        return 0
    for r in rows:
        versions = ", ".join(str(v) for v in r["versions"])
        print(f"{r['app_id']:<28} Version {r['current']} (vorhanden: {versions})  {r['title']}")
        print(f"{'':<28} Zielgruppe: {', '.join(r['audience'] or [])}; verantwortlich: {r['owner']}; "
              f"veröffentlicht {german_datetime(r['published_at'])}")
    return 0


def _say(as_json: bool, data: dict, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if as_json else text)
