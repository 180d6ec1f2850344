"""``bif contract check|draft|export|import``: validate contract files, draft a first contract from a sample,
export to and import from ODCS and Frictionless Table Schema (``contract_interop``)."""

from __future__ import annotations

import sys
from pathlib import Path

from bif_lib.cli import contract_interop
from bif_lib.contracts import ContractError, load_contract
from bif_lib.validation.draft import draft_contract


def register(subparsers) -> None:
    parser = subparsers.add_parser("contract", help="Datenverträge prüfen und entwerfen")
    sub = parser.add_subparsers(dest="contract_command", metavar="AKTION", required=True)

    check = sub.add_parser("check", help="Vertragsdateien gegen das Vertragsformat prüfen")
    check.add_argument("files", nargs="+", type=Path)
    check.set_defaults(handler=_check)

    draft = sub.add_parser("draft", help="ersten Vertrag aus einer Beispieldatei ableiten")
    draft.add_argument("file", type=Path)
    draft.add_argument("--id", help="Datensatz-ID (Standard: aus dem Dateinamen)")
    draft.add_argument("-o", "--output", type=Path, help="Vertrag in diese Datei schreiben (Standard: Ausgabe)")
    draft.set_defaults(handler=_draft)

    contract_interop.register(sub)


def _check(args) -> int:
    failed = 0
    for path in args.files:
        try:
            contract = load_contract(path)
        except ContractError as exc:
            print(exc, file=sys.stderr)
            failed += 1
        else:
            print(f"OK  {path}: {contract.id} {contract.version} ({len(contract.fields)} Felder, "
                  f"{len(contract.rules)} Regeln)")
    return 1 if failed else 0


def _draft(args) -> int:
    text = draft_contract(args.file, dataset_id=args.id)
    if args.output:
        if args.output.exists():
            print(f"{args.output} existiert schon – nichts überschrieben.", file=sys.stderr)
            return 1
        args.output.write_text(text, encoding="utf-8")
        print(f"Entwurf geschrieben: {args.output} – bitte die mit „TODO“ markierten Angaben ergänzen.")
    else:
        sys.stdout.write(text)
    return 0
