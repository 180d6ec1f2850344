"""The ``bif`` command. Each command group is a module here with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

# Order = order in ``bif --help``. Modules that are not installed (optional parts) are skipped.
COMMAND_MODULES = ["contract", "ingest", "catalog", "data", "release", "audit", "office", "publish", "platform", "users",
                   "training"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bif", description="BIF – verifizierte Daten und Planungs-Apps für die Stadtverwaltung.")
    subparsers = parser.add_subparsers(dest="command", metavar="BEFEHL")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("Abgebrochen.", file=sys.stderr)
        return 130


def progress(message: str) -> None:
    """Progress lines go to stderr so that stdout stays parseable (--json)."""
    print(f"… {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
