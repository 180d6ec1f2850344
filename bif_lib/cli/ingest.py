"""``bif ingest`` and ``bif validate``: a department's file against its contract."""

from __future__ import annotations

import sys
from pathlib import Path

from bif_lib.cli import progress
from bif_lib.contracts import ContractError, load_contract
from bif_lib.ingest import default_store, ingest, validate_file


def register(subparsers) -> None:
    parser = subparsers.add_parser("ingest", help="Datei prüfen und als neue Version speichern")
    parser.add_argument("contract", type=Path, help="Vertragsdatei (YAML)")
    parser.add_argument("file", type=Path, help="Datei der Fachabteilung")
    parser.add_argument("--json", action="store_true", help="Prüfbericht als JSON ausgeben")
    parser.add_argument("--certificate", "--zertifikat", type=Path, metavar="DATEI",
                        help="Geheimhaltungszertifikat der Statistikstelle (für Freigaben aus vertraulichen Daten)")
    parser.set_defaults(handler=_ingest)

    check = subparsers.add_parser("validate", help="Datei nur prüfen, nichts speichern")
    check.add_argument("contract", type=Path)
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=_validate)


def _load(path: Path):
    try:
        return load_contract(path)
    except ContractError as exc:
        print(exc, file=sys.stderr)
        return None


def _ingest(args) -> int:
    contract = _load(args.contract)
    if contract is None:
        return 2
    default_store().check_catalog()  # a damaged or outdated catalog: refused before a large file is read
    outcome = ingest(contract, args.file, progress=progress, certificate=args.certificate)
    if args.json:
        print(outcome.report.to_json())
    elif not outcome.ok or outcome.report.warnings:
        print(outcome.report.to_text())
    print(outcome.summary(), file=sys.stderr if args.json else sys.stdout)
    return 0 if outcome.ok else 1


def _validate(args) -> int:
    contract = _load(args.contract)
    if contract is None:
        return 2
    _, report, _ = validate_file(contract, args.file, default_store(), progress)
    print(report.to_json() if args.json else report.to_text())
    return 0 if report.ok else 1
