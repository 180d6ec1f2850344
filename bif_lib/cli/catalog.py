"""``bif catalog list|search|show|history|verify|rebuild|migrate|setup-sql``: what the verified store holds."""

from __future__ import annotations

import json
import sys

from bif_lib import api
from bif_lib.i18n import CLASSIFICATION_LABELS, format_number
from bif_lib.ingest import default_store
from bif_lib.store import DatasetNotFound


def register(subparsers) -> None:
    parser = subparsers.add_parser("catalog", help="Datenkatalog anzeigen")
    sub = parser.add_subparsers(dest="catalog_command", metavar="AKTION", required=True)
    listing = sub.add_parser("list", help="alle Datensätze mit ihrer neuesten Version")
    listing.add_argument("--classification", choices=["open", "internal", "confidential"])
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    search = sub.add_parser("search", help="Datensätze nach Stichwort suchen")
    search.add_argument("text")
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=_search)
    show = sub.add_parser("show", help="Vertrag, Prüfbericht und Herkunft eines Datensatzes")
    show.add_argument("dataset")
    show.add_argument("--version", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)
    history = sub.add_parser("history", help="alle Versionen eines Datensatzes")
    history.add_argument("dataset")
    history.add_argument("--json", action="store_true")
    history.set_defaults(handler=_history)
    verify = sub.add_parser("verify", help="Katalog gegen die Snapshots und alle Prüfsummen kontrollieren")
    verify.set_defaults(handler=_verify)
    rebuild = sub.add_parser("rebuild", help="Katalog aus den Metadaten neben den Snapshots neu aufbauen "
                                             "(der alte bleibt als Sicherung erhalten)")
    rebuild.set_defaults(handler=_rebuild)
    migrate = sub.add_parser("migrate", help="Katalog nach PostgreSQL oder SQLite übertragen und prüfen "
                                             "(die Quelle bleibt unverändert)")
    migrate.add_argument("--to", required=True, choices=["postgresql", "sqlite"], help="Ziel")
    migrate.add_argument("--url", help="Ziel PostgreSQL: postgresql://server:5432/datenbank (Rolle und Passwort aus "
                                       "BIF_CATALOG_USER/BIF_CATALOG_PASSWORD oder ~/.pgpass)")
    migrate.add_argument("--path", help="Ziel SQLite: Datei (Standard: catalog.sqlite im Datenspeicher)")
    migrate.add_argument("--force", action="store_true", help="ein Ziel mit Einträgen ersetzen (sie bleiben als "
                                                              "Sicherung erhalten)")
    migrate.add_argument("--copy", action="store_true", help="nur kopieren: ein SQLite-Katalog als Quelle bleibt in "
                                                             "Gebrauch (sonst wird er als umgezogen markiert)")
    migrate.set_defaults(handler=_migrate)
    setup = sub.add_parser("setup-sql", help="SQL zum Einrichten der PostgreSQL-Datenbank des Katalogs ausgeben")
    setup.add_argument("--database", default="bif_catalog")
    setup.set_defaults(handler=_setup_sql)


def _table(frame, columns: dict[str, str]) -> str:
    if frame.empty:
        return "(keine Datensätze)"
    shown = frame[list(columns)].astype(str)
    widths = {c: max(len(columns[c]), shown[c].str.len().max()) for c in columns}
    lines = ["  ".join(columns[c].ljust(widths[c]) for c in columns)]
    lines += ["  ".join(row[c].ljust(widths[c]) for c in columns) for _, row in shown.iterrows()]
    return "\n".join(lines)


def _print_frame(frame, as_json: bool) -> None:
    if as_json:
        print(frame.to_json(orient="records", force_ascii=False))
        return
    frame = frame.copy()
    frame["classification"] = frame["classification"].map(CLASSIFICATION_LABELS)
    frame["rows"] = frame["rows"].map(format_number)
    frame["ingested_at"] = frame["ingested_at"].str[:16].str.replace("T", " ")
    print(_table(frame, {"dataset": "Datensatz", "version": "Version", "classification": "Einstufung",
                         "rows": "Zeilen", "ingested_at": "Stand (UTC)", "title": "Titel"}))


def _list(args) -> int:
    _print_frame(api.list_datasets(args.classification), args.json)
    return 0


def _search(args) -> int:
    _print_frame(api.search(args.text), args.json)
    return 0


def _show(args) -> int:
    try:
        description = api.describe(args.dataset, args.version)
    except DatasetNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(description.entry.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        print(description.to_text())
    return 0


def _history(args) -> int:
    try:
        frame = api.history(args.dataset)
    except DatasetNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        print(frame.to_json(orient="records", force_ascii=False))
    else:
        frame["sha256"] = frame["sha256"].str[:12] + "…"
        print(_table(frame, {"version": "Version", "ingested_at": "Stand (UTC)", "ingested_by": "durch",
                             "rows": "Zeilen", "source_file": "Quelldatei", "sha256": "sha256"}))
    return 0


def _verify(args) -> int:
    store = default_store()
    problems, notes = store.inspect()
    for problem in problems:
        print(f"FEHLER {problem}")
    for note in notes:
        print(f"HINWEIS {note}")
    if problems:
        print(f"{len(problems)} Problem(e) gefunden.")
        return 1
    versions = len(store.catalog.all_versions())
    print(f"Alle {format_number(versions)} Snapshots sind unversehrt und der Katalog stimmt mit dem Datenspeicher "
          f"überein." if versions else "Der Datenspeicher ist leer; Katalog und Datenspeicher stimmen überein.")
    return 0


def _rebuild(args) -> int:
    store = default_store()
    result = store.rebuild_catalog()
    datasets = len({e.dataset_id for e in result.entries})
    print(f"Katalog {store.catalog.location} aus den Metadaten neu aufgebaut: {format_number(len(result.entries))} "
          f"Version(en) von {format_number(datasets)} Datensatz/Datensätzen.")
    state = {"damaged": "war beschädigt", "missing/empty": "fehlte oder war leer", "ok": "war lesbar"}[result.old_catalog]
    print(f"Der bisherige Katalog {state}" + (f"; er bleibt als Sicherung erhalten: {result.backup}."
                                              if result.backup else "."))
    if result.restored:
        print(f"Wieder im Katalog: {', '.join(result.restored)}")
    for moved in result.quarantined:
        print(f"QUARANTÄNE {moved} (unbekannte Datei verschoben, nicht gelöscht – bitte prüfen)")
    for kept in result.kept:
        print(f"HINWEIS {kept}: ohne Metadaten-Datei aus dem bisherigen Katalog übernommen")
    for problem in result.problems:
        print(f"FEHLER {problem}")
    return 1 if result.problems else 0


def _migrate(args) -> int:
    import os
    from pathlib import Path

    from bif_lib import config
    from bif_lib.store.catalog import SQLiteCatalog
    from bif_lib.store.migrate import migrate

    store = default_store()
    if args.to == "postgresql":
        if not args.url or args.path:
            print("Für --to postgresql bitte --url postgresql://server:5432/datenbank angeben (ohne --path).",
                  file=sys.stderr)
            return 2
        from bif_lib.store.pg_catalog import PostgresCatalog

        target = PostgresCatalog(args.url, user=os.environ.get(config.CATALOG_USER_ENV, ""),
                                 password=os.environ.get(config.CATALOG_PASSWORD_ENV, ""))
    else:
        if args.url:
            print("Für --to sqlite bitte --path angeben (ohne --url).", file=sys.stderr)
            return 2
        path = Path(args.path).expanduser().resolve() if args.path else store.root / "catalog.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        target = SQLiteCatalog(path)
    result = migrate(store, target, force=args.force, keep_source=args.copy)
    print(f"Katalog übertragen: {format_number(result.versions)} Version(en) von {format_number(result.datasets)} "
          f"Datensatz/Datensätzen von {result.source} nach {result.target}; Zeile für Zeile geprüft "
          f"(Prüfsumme {result.digest[:16]}…).")
    if result.replaced:
        print(f"Das Ziel enthielt {format_number(result.replaced)} Version(en); sie bleiben als Sicherung erhalten"
              + (f": {result.backup}." if result.backup else "."))
    print(f"Die Quelle {result.source} ist unverändert.")
    if result.marked:
        print(f"Sie ist als umgezogen markiert ({result.marked}) und wird nicht mehr gelesen oder geschrieben.")
    if args.to == "postgresql":
        print("Nächster Schritt: in den Einstellungen catalog.backend: postgresql und catalog.url setzen und die "
              "Plattform neu starten (`bif platform stop`, `bif platform start`).")
    elif result.target == str(store.root / "catalog.sqlite"):
        print("Nächster Schritt: in den Einstellungen catalog.backend: sqlite setzen (catalog.url leeren) und die "
              "Plattform neu starten.")
    return 0


def _setup_sql(args) -> int:
    from bif_lib.store.pg_catalog import setup_sql

    print(setup_sql(args.database), end="")
    return 0
