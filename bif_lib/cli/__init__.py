"""The ``bif`` command. Each command group is a module here with ``register(subparsers)``.

Whatever fails, the person at the terminal (data steward, planner, statistics office) gets a
German message that names the file or resource and what to do, and an exit code other than
0 — never a Python traceback. The traceback goes to a log file for operators
(``$BIF_HOME/logs/bif-cli.log``, mode 0600; if that is not writable, a per-user fallback,
see ``operator_log``), and the message says where.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

# Order = order in ``bif --help``. Modules that are not installed (optional parts) are skipped.
COMMAND_MODULES = ["contract", "ingest", "catalog", "data", "release", "opendata", "audit", "office", "publish",
                   "platform", "users", "training", "schedule"]

EXIT_FAILURE = 1     # a failure the message explains (data, permissions, disk, catalog …)
EXIT_INTERNAL = 70   # an unexpected internal error (EX_SOFTWARE): the log has the details
LOG_NAME = "bif-cli.log"


# --- German argparse -------------------------------------------------------------------------

_ARGPARSE_GERMAN = [
    (r"the following arguments are required: (.*)", r"es fehlen Angaben: \1"),
    (r"argument (\S+): invalid choice: (.*?) \(choose from (.*)\)", r"Angabe \1: ungültige Auswahl \2 (möglich: \3)"),
    (r"argument (\S+): invalid int value: (.*)", r"Angabe \1: \2 ist keine ganze Zahl"),
    (r"argument (\S+): invalid float value: (.*)", r"Angabe \1: \2 ist keine Zahl"),
    (r"argument (\S+): invalid (\w+) value: (.*)", r"Angabe \1: ungültiger Wert \3"),
    (r"argument (\S+): expected one argument", r"Angabe \1 braucht einen Wert"),
    (r"argument (\S+): expected at least one argument", r"Angabe \1 braucht mindestens einen Wert"),
    (r"argument (\S+): not allowed with argument (\S+)", r"Angabe \1 ist zusammen mit \2 nicht erlaubt"),
    (r"unrecognized arguments: (.*)", r"unbekannte Angaben: \1"),
    (r"ambiguous option: (.*)", r"mehrdeutige Option: \1"),
]


class _GermanHelp(argparse.HelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, prefix if prefix is not None else "Aufruf: ")


class GermanArgumentParser(argparse.ArgumentParser):
    """argparse with German usage errors and headings (sub-commands inherit the class)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _GermanHelp)
        super().__init__(*args, **kwargs)
        self._positionals.title = "Argumente"
        self._optionals.title = "Optionen"
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = "diese Hilfe anzeigen und beenden"

    def error(self, message: str):
        for pattern, german in _ARGPARSE_GERMAN:
            if re.fullmatch(pattern, message):
                message = re.sub(pattern, german, message)
                break
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: Fehler: {message}\nHilfe: {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = GermanArgumentParser(
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
    args = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        from bif_lib.platform.settings import catalog_env_for_shell

        catalog_env_for_shell()  # the catalog settings.yaml chooses (PostgreSQL or the store's SQLite file)
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("Abgebrochen.", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a German message
        return report_failure(exc, args, argv)


def progress(message: str) -> None:
    """Progress lines go to stderr so that stdout stays parseable (--json)."""
    print(f"… {message}", file=sys.stderr, flush=True)


# --- failures ----------------------------------------------------------------------------------

def report_failure(exc: BaseException, args=None, argv: list[str] | None = None) -> int:
    """Print the German message for ``exc``, log the traceback for operators; return the exit code."""
    try:
        message, code = describe_failure(exc, args)
    except BaseException:  # noqa: BLE001 - the message must never fail
        message, code = f"Unerwarteter interner Fehler ({type(exc).__name__}).", EXIT_INTERNAL
    log = _log_traceback(exc, argv)
    where = (f"Technische Einzelheiten für den Betrieb: {log}" if log else
             "Technische Einzelheiten konnten nicht protokolliert werden (kein beschreibbarer Protokollordner).")
    try:
        print(f"FEHLER: {message}\n{where}", file=sys.stderr, flush=True)
    except OSError:
        pass
    return code


def _bif_message(exc: BaseException) -> bool:
    """BIF's own exceptions carry German messages by convention (see docs/dev/conventions.md)."""
    return any(cls.__module__.startswith("bif_lib") for cls in type(exc).__mro__)


def _subject(args) -> str:
    """ " (Vertrag x.yaml, Datei y.csv)" from the command's arguments, for messages."""
    if args is None:
        return ""
    parts = []
    for attr, label in (("contract", "Vertrag"), ("file", "Datei"), ("dataset", "Datensatz")):
        value = getattr(args, attr, None)
        if value:
            parts.append(f"{label} {value}")
    files = getattr(args, "files", None)
    if files:
        parts.append("Dateien " + ", ".join(map(str, files[:5])) + (" …" if len(files) > 5 else ""))
    return f" ({', '.join(parts)})" if parts else ""


def _size_of(args) -> str:
    path = getattr(args, "file", None) if args is not None else None
    try:
        size = Path(path).stat().st_size if path else None
    except OSError:
        size = None
    if not size:
        return ""
    from bif_lib.i18n import format_number
    return f" ({format_number(size / 1e6, 1)} MB)"


_OS_ERRORS = {
    errno.ENOSPC: "Kein Platz mehr auf dem Datenträger{at}. Bitte Speicherplatz freigeben (lassen) und den Befehl "
                  "wiederholen; bereits gespeicherte Daten sind unverändert.",
    errno.EDQUOT: "Das Speicherkontingent (Quota) ist erschöpft{at}. Bitte Platz schaffen oder das Kontingent "
                  "erhöhen lassen und den Befehl wiederholen.",
    errno.EACCES: "Keine Berechtigung{at}. Bitte mit einem Konto ausführen, das die nötigen Rechte hat "
                  "(Einspielen: Datenpflege/Statistikstelle), oder die Rechte prüfen lassen.",
    errno.EPERM: "Vorgang nicht erlaubt{at}. Bitte mit einem Konto ausführen, das die nötigen Rechte hat, oder die "
                 "Rechte prüfen lassen.",
    errno.EROFS: "Das Dateisystem ist schreibgeschützt{at}. Bitte den Betrieb verständigen.",
    errno.ENOENT: "Datei oder Ordner nicht gefunden{at}. Bitte den Pfad prüfen.",
    errno.EISDIR: "Hier wird eine Datei erwartet, angegeben ist ein Ordner{at}.",
    errno.ENOTDIR: "Ein Teil des Pfads ist kein Ordner{at}. Bitte den Pfad prüfen.",
    errno.EIO: "Ein-/Ausgabefehler des Datenträgers{at}. Bitte den Datenträger prüfen lassen.",
    errno.ENOMEM: "Nicht genug Arbeitsspeicher{at}.",
    errno.EMFILE: "Zu viele offene Dateien{at}. Bitte den Betrieb verständigen.",
    errno.ENFILE: "Zu viele offene Dateien im System{at}. Bitte den Betrieb verständigen.",
    errno.ECONNREFUSED: "Verbindung abgelehnt{at}: der Dienst läuft nicht oder ist nicht erreichbar.",
    errno.ETIMEDOUT: "Zeitüberschreitung{at}: der Dienst antwortet nicht.",
}


def describe_failure(exc: BaseException, args=None) -> tuple[str, int]:
    """(German message, exit code) for an exception that reached the command line."""
    import sqlite3

    subject = _subject(args)
    if isinstance(exc, MemoryError):
        return (f"Nicht genug Arbeitsspeicher{subject}{_size_of(args)}. Es wurde nichts gespeichert. Bitte die "
                f"Datei aufteilen, auf einem Rechner mit mehr Arbeitsspeicher einspielen oder den Betrieb fragen "
                f"(Speichergrenze BIF_MAX_MEMORY).", EXIT_FAILURE)
    if isinstance(exc, RecursionError):
        return f"Die Daten sind zu tief verschachtelt, um sie zu verarbeiten{subject}.", EXIT_FAILURE
    if _bif_message(exc):
        return f"{exc}", EXIT_FAILURE
    if isinstance(exc, UnicodeError):
        encoding = getattr(exc, "encoding", "?")
        start = getattr(exc, "start", None)
        at = f" an Byte {start}" if start is not None else ""
        return (f"Eine Datei ist nicht in der erwarteten Zeichenkodierung {encoding} gespeichert{at}{subject}. "
                f"Bitte als UTF-8 speichern oder die Kodierung im Vertrag (source.encoding) angeben.", EXIT_FAILURE)
    if isinstance(exc, OSError) and (exc.errno is not None or exc.filename):
        code = exc.errno
        if code is None and "No space left" in str(exc):
            code = errno.ENOSPC
        at = f" ({exc.filename})" if exc.filename else subject
        template = _OS_ERRORS.get(code)
        if template:
            return template.format(at=at), EXIT_FAILURE
        name = errno.errorcode.get(code, str(code))
        return f"Betriebssystemfehler {name}{at}: {exc.strerror or exc}. Bitte den Betrieb verständigen.", EXIT_FAILURE
    if isinstance(exc, OSError) and "No space left" in str(exc):
        return _OS_ERRORS[errno.ENOSPC].format(at=subject), EXIT_FAILURE
    if isinstance(exc, sqlite3.Error):
        from bif_lib import config
        from bif_lib.store.catalog import _translate
        return str(_translate(exc, config.store_dir() / "catalog.sqlite", "gelesen")), EXIT_FAILURE
    try:
        import yaml
    except ImportError:  # pragma: no cover
        yaml = None
    if yaml is not None and isinstance(exc, yaml.YAMLError):
        mark = getattr(exc, "problem_mark", None)
        line = f" in Zeile {mark.line + 1} von {mark.name}" if mark else ""
        problem = str(getattr(exc, "problem", "") or exc)[:200]
        return f"Eine YAML-Datei ist nicht lesbar{line}{subject}: {problem}.", EXIT_FAILURE
    if isinstance(exc, OSError):  # our own PermissionError & co. with a message only
        return f"{str(exc)[:500]}{subject}", EXIT_FAILURE
    detail = str(exc)[:300]
    return (f"Unerwarteter interner Fehler{subject}: {type(exc).__name__}"
            f"{': ' + detail if detail else ''}. Es wurde nichts gespeichert, was nicht gemeldet wurde. Bitte an den "
            f"Betrieb melden (mit der Protokolldatei unten).", EXIT_INTERNAL)


# --- the operators' log --------------------------------------------------------------------------

def operator_log_candidates() -> list[Path]:
    """Where the CLI's tracebacks go, first writable wins: ``$BIF_HOME/logs/bif-cli.log``, then
    ``$XDG_STATE_HOME/bif`` (``~/.local/state/bif``), then ``<tmp>/bif-<uid>``."""
    from bif_lib import config

    candidates = [config.bif_home() / "logs" / LOG_NAME]
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    candidates.append(Path(state) / "bif" / LOG_NAME)
    candidates.append(Path(tempfile.gettempdir()) / f"bif-{os.getuid()}" / LOG_NAME)
    return candidates


def _private_dir(path: Path, shared_parent: bool) -> bool:
    """Create ``path`` (0700) if needed; in a shared parent (/tmp) it must be ours and private."""
    try:
        path.mkdir(mode=0o700, parents=not shared_parent, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return False
    if shared_parent:
        import stat
        return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077
    return True


def _log_traceback(exc: BaseException, argv: list[str] | None) -> Path | None:
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:  # noqa: BLE001 - e.g. no memory left to format it
        text = f"{type(exc).__name__} (Traceback nicht formatierbar)\n"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    command = " ".join(argv if argv is not None else sys.argv[1:])
    record = f"=== {stamp} uid={os.getuid()} pid={os.getpid()} bif {command}\n{text}\n".encode("utf-8", "replace")
    try:
        candidates = operator_log_candidates()
    except Exception:  # noqa: BLE001
        candidates = [Path(tempfile.gettempdir()) / f"bif-{os.getuid()}" / LOG_NAME]
    for index, path in enumerate(candidates):
        if index == 0 and not path.parent.parent.is_dir():
            continue  # no BIF_HOME here: do not create one just to hold a log
        if not _private_dir(path.parent, shared_parent=index == len(candidates) - 1):
            continue
        try:
            from bif_lib.fsutil import write_private

            write_private(path, record, append=True, durable=False)
        except OSError:
            continue
        return path
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
