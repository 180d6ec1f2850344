"""``bif data fetch|bootstrap``: the city's verified data basis in one command."""

from __future__ import annotations

import sys

from bif_lib import config
from bif_lib.city.profile import load_profile
from bif_lib.cli import progress
from bif_lib.data.bootstrap import BootstrapError, bootstrap
from bif_lib.data.fetch import fetch_sources


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="öffentliche Daten holen und die Datenbasis aufbauen")
    sub = parser.add_subparsers(dest="data_command", metavar="AKTION", required=True)
    for name, help_text, handler in (
            ("fetch", "Quelldateien holen und Prüfsummen kontrollieren", _fetch),
            ("bootstrap", "holen, prüfen, einspielen, synthetische Daten erzeugen", _bootstrap)):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("city", nargs="?", default=None, help=f"Stadtprofil (Standard: {config.city()})")
        cmd.add_argument("--mirror", help="lokales Verzeichnis oder http(s)-URL eines Spiegels "
                                          "(Standard: Umgebungsvariable BIF_MIRROR)")
        cmd.set_defaults(handler=handler)
        if name == "bootstrap":
            cmd.add_argument("--no-confidential", action="store_true",
                             help="keine vertraulichen Daten (synthetisches Melderegister) erzeugen")


def _fetch(args) -> int:
    profile = load_profile(args.city)
    report = fetch_sources(profile, profile.source_dir(), args.mirror or config.mirror_dir(), progress)
    for message in report.refused:
        print(f"ABGELEHNT {message}", file=sys.stderr)
    print(f"{len(report.fetched)} geholt, {len(report.unchanged)} unverändert, {len(report.refused)} abgelehnt "
          f"→ {profile.source_dir()}")
    return 0 if report.ok else 1


def _bootstrap(args) -> int:
    try:
        result = bootstrap(args.city, mirror=args.mirror, include_confidential=not args.no_confidential,
                           progress=progress)
    except BootstrapError as exc:
        print(f"Abbruch: {exc}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0 if result.ok else 1
