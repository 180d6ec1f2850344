"""``bif contract export|import``: contracts to and from ODCS v3 and Frictionless Table Schema
(``bif_lib.contracts.interop``; mapping in docs/contracts.md, "Import and export")."""

from __future__ import annotations

import sys
from pathlib import Path

from bif_lib.contracts import ContractError, load_contract
from bif_lib.contracts.interop import FORMATS, LABELS, InteropError, export_contract, import_contract
from bif_lib.i18n import format_number

MAX_SHOWN_WARNINGS = 40


def register(sub) -> None:
    """Add ``export`` and ``import`` to the ``bif contract`` sub-commands."""
    formats = "odcs (Open Data Contract Standard v3) oder tableschema (Frictionless Table Schema)"
    export = sub.add_parser("export", help="Vertrag als ODCS oder Frictionless Table Schema ausgeben")
    export.add_argument("contract", type=Path, metavar="VERTRAG")
    export.add_argument("--format", required=True, choices=FORMATS, dest="fmt", help=formats)
    export.add_argument("-o", "--output", type=Path, metavar="DATEI",
                        help="in diese Datei schreiben (Standard: Ausgabe)")
    export.set_defaults(handler=_export)

    imp = sub.add_parser("import", help="BIF-Vertrag aus ODCS oder Frictionless Table Schema erzeugen")
    imp.add_argument("file", type=Path, metavar="DATEI")
    imp.add_argument("--format", required=True, choices=FORMATS, dest="fmt", help=formats)
    imp.add_argument("--id", dest="dataset_id", metavar="ID",
                     help="Datensatz-ID des neuen Vertrags (Pflicht bei tableschema; bei odcs Standard: dessen id)")
    imp.add_argument("--object", dest="object_name", metavar="NAME",
                     help="odcs: die Tabelle (schema[].name), wenn es mehrere gibt")
    imp.add_argument("-o", "--output", type=Path, metavar="DATEI",
                     help="Vertrag in diese Datei schreiben (Standard: Ausgabe)")
    imp.set_defaults(handler=_import)


def _write_new(path: Path, text: str) -> bool:
    """Write ``text`` to a new file; False (with a message) if it exists already."""
    try:
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        print(f"{path} existiert schon – nichts überschrieben.", file=sys.stderr)
        return False
    return True


def _export(args) -> int:
    try:
        contract = load_contract(args.contract)
    except ContractError as exc:
        print(exc, file=sys.stderr)
        return 1
    result = export_contract(contract, args.fmt)
    label = LABELS[args.fmt]
    if args.output:
        if not _write_new(args.output, result.text):
            return 1
        print(f"{label} geschrieben: {args.output} (Datensatz {contract.id}, {len(contract.fields)} Felder).")
        out = sys.stdout
    else:
        sys.stdout.write(result.text)
        out = sys.stderr
    if result.losses:
        print(f"Nicht übertragen – {label} hat dafür keinen Platz:", file=out)
        for loss in result.losses:
            print(f"  - {loss}", file=out)
    return 0


def _import(args) -> int:
    try:
        result = import_contract(args.file, args.fmt, dataset_id=args.dataset_id, object_name=args.object_name,
                                 target=args.output)
    except InteropError as exc:
        print(exc, file=sys.stderr)
        return 1
    contract = result.contract
    if args.output:
        if not _write_new(args.output, result.text):
            return 1
        print(f"Vertrag geschrieben: {args.output} (Datensatz {contract.id}, {len(contract.fields)} Felder, "
              f"{len(contract.rules)} Regeln).")
        out = sys.stdout
    else:
        sys.stdout.write(result.text)
        out = sys.stderr
    if result.warnings:
        print(f"{format_number(len(result.warnings))} Hinweise – im Vertrag als „TODO (Import)“ vermerkt:", file=out)
        for where, message in result.warnings[:MAX_SHOWN_WARNINGS]:
            print(f"  - {where + ': ' if where else ''}{message}", file=out)
        if len(result.warnings) > MAX_SHOWN_WARNINGS:
            more = format_number(len(result.warnings) - MAX_SHOWN_WARNINGS)
            print(f"  … und {more} weitere (siehe Vertrag)", file=out)
    if args.output:
        print(f"Bitte die TODO-Angaben ergänzen und prüfen: bif contract check {args.output}", file=out)
    return 0
