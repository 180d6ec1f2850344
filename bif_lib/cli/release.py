"""``bif release``: the statistics office releases a protected table from confidential microdata."""

from __future__ import annotations

import sys
from pathlib import Path

from bif_lib.cli import progress
from bif_lib.contracts import ContractError, load_contract
from bif_lib.releases import ReleaseError, release


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "release", help="Freigabe der Statistikstelle: Tabelle schützen (Geheimhaltung) und einspielen")
    parser.add_argument("contract", type=Path, help="Vertrag der freizugebenden Tabelle (mit Abschnitt „release“)")
    parser.add_argument("--purpose", "--zweck", required=True,
                        help="Zweck des Zugriffs auf die Einzeldaten (wird protokolliert)")
    parser.set_defaults(handler=_release)


def _release(args) -> int:
    try:
        contract = load_contract(args.contract)
    except ContractError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        outcome, certificate = release(contract, purpose=args.purpose, progress=progress)
    except ReleaseError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(certificate.to_text())
    print()
    if not outcome.ok:
        print(outcome.report.to_text())
    print(outcome.summary())
    return 0 if outcome.ok else 1
