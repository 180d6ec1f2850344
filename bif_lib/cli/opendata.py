"""``bif opendata release|withdraw|list|validate``: publish verified datasets as open data (docs/opendata.md)."""

from __future__ import annotations

import json
from pathlib import Path

from bif_lib.cli import progress
from bif_lib.i18n import CLASSIFICATION_LABELS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "opendata", help="offene Daten veröffentlichen: Data Package, DCAT-AP.de-Katalog und Katalogseite")
    sub = parser.add_subparsers(dest="opendata_command", metavar="AKTION", required=True)
    release = sub.add_parser(
        "release", help="Datensätze (neueste Version) in den Open-Data-Ordner veröffentlichen",
        description="Veröffentlicht offene Datensätze – und interne Tabellen, die die Statistikstelle mit Zertifikat "
                    "freigegeben hat und deren Vertrag es erlaubt – als Data Package (CSV, Parquet, GeoJSON) mit "
                    "DCAT-AP.de-Metadaten in einen statischen Ordner. Vertrauliche Daten nie.")
    release.add_argument("datasets", nargs="+", metavar="DATENSATZ", help="Name(n) der Datensätze (bif catalog list)")
    release.add_argument("--output", "-o", type=Path, metavar="ORDNER",
                         help="Open-Data-Ordner (Voreinstellung: $BIF_HOME/opendata)")
    release.add_argument("--base-url", metavar="URL",
                         help="öffentliche Adresse des Ordners, z. B. https://opendata.stadt.de/bif/ (beim ersten Mal "
                              "nötig, sofern nicht im Stadtprofil unter opendata.base_url; danach gemerkt)")
    release.set_defaults(handler=_release)
    withdraw = sub.add_parser("withdraw", help="Datensätze aus dem Open-Data-Ordner zurückziehen (Dateien und "
                                               "Katalogeintrag)")
    withdraw.add_argument("datasets", nargs="+", metavar="DATENSATZ")
    withdraw.add_argument("--output", "-o", type=Path, metavar="ORDNER",
                          help="Open-Data-Ordner (Voreinstellung: $BIF_HOME/opendata)")
    withdraw.set_defaults(handler=_withdraw)
    listing = sub.add_parser("list", help="welche Datensätze veröffentlicht werden dürfen und welche es sind")
    listing.add_argument("--output", "-o", type=Path, metavar="ORDNER")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    validate = sub.add_parser("validate", help="einen Open-Data-Ordner prüfen (Prüfsummen, frictionless, SHACL)")
    validate.add_argument("directory", nargs="?", type=Path, metavar="ORDNER",
                          help="Open-Data-Ordner (Voreinstellung: $BIF_HOME/opendata)")
    validate.set_defaults(handler=_validate)


def _release(args) -> int:
    from bif_lib.opendata.release import release

    result = release(args.datasets, output=args.output, base_url=args.base_url, progress=progress)
    print(result.summary())
    return 0


def _withdraw(args) -> int:
    from bif_lib.opendata.release import withdraw

    for dataset in withdraw(args.datasets, output=args.output, progress=progress):
        print(f"zurückgezogen: {dataset}")
    return 0


def _list(args) -> int:
    from bif_lib.opendata.release import releasable, site_status

    rows = releasable()
    manifest = site_status(args.output) or {"datasets": {}}
    for row in rows:
        published = manifest["datasets"].get(row["dataset"])
        row["published_version"] = published["version"] if published else None
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    width = max([len(r["dataset"]) for r in rows] + [9])
    print(f"{'Datensatz':<{width}}  {'Einstufung':<11} {'Version':>7}  {'veröffentlicht':<14}  Status")
    for row in rows:
        published = f"Version {row['published_version']}" if row["published_version"] else "–"
        status = "freigebbar" if row["releasable"] else "nicht freigebbar"
        reason = f": {row['reason']}" if row["reason"] else ""
        print(f"{row['dataset']:<{width}}  {CLASSIFICATION_LABELS.get(row['classification'], '?'):<11} "
              f"{row['version']:>7}  {published:<14}  {status}{reason}")
    return 0


def _validate(args) -> int:
    from bif_lib.opendata.release import default_output, validate_site

    target = args.directory or default_output()
    problems = validate_site(target, progress=progress)
    for problem in problems:
        print(f"FEHLER {problem}")
    if problems:
        print(f"{len(problems)} Problem(e) im Open-Data-Ordner {target}.")
        return 1
    print(f"Der Open-Data-Ordner {target} ist gültig: Prüfsummen, Data Packages (frictionless) und DCAT-AP.de "
          f"(SHACL) stimmen.")
    return 0
