"""The participants' work as one zip for the trainer, when a training cohort ends.

``archive_homes`` runs as root over home directories that their (possibly hostile) owners
control, so it trusts nothing in them:

* it walks each home by file descriptor (``os.scandir`` on a directory fd, every child opened
  with ``dir_fd`` and ``O_NOFOLLOW``): a symlink, to a file or a directory, is never followed,
  and renaming or swapping a directory during the walk cannot lead it outside the home;
* it reads a file only through the descriptor it opened (``O_NONBLOCK``, so a FIFO swapped in
  cannot block it) after ``fstat`` showed a regular file owned by the home's owner — a hard
  link to someone else's file (``/etc/shadow``) is skipped like FIFOs, devices and sockets;
* it bounds what it reads (``max_file_bytes`` per file, ``max_total_bytes`` and ``max_files``
  for the whole archive, ``MAX_DEPTH`` folders deep) and reads no file beyond its limit even
  if it grows while being read;
* names in the zip are ``<participant>/<relative path>`` built from the walked names only,
  cleaned of anything Windows or an unzip tool could read as a path (``\\``, ``:``, control
  characters, reserved names): no ``..``, no absolute paths.

Included are notebooks and the files people work with (``INCLUDED_SUFFIXES``); hidden files
and folders (``.ipynb_checkpoints``, ``.local``, ``.cache``, ``.bif`` …) are left out without
mention. Everything else that was left out is listed with a German reason in the report and in
the ``README.txt`` at the root of the zip. The zip is written to a temporary file beside
``target`` (0600) and renamed into place: it appears whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bif_lib.fsutil import fsync_dir
from bif_lib.i18n import format_local_datetime, format_number, local_time

MiB = 1024 * 1024
INCLUDED_SUFFIXES = (".ipynb", ".py", ".csv", ".xlsx", ".md", ".txt", ".png")
MAX_DEPTH = 32  # folders below the home; deeper ones are skipped (and hold no descriptors)
README_NAME = "README.txt"

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CHUNK = 1024 * 1024


class ArchiveError(OSError):
    """The archive could not be written. An ``OSError`` with the cause's errno; ``strerror``
    and ``str()`` are the German message."""

    def __init__(self, message: str, cause: OSError | None = None):
        super().__init__(cause.errno if cause and cause.errno else errno.EIO, message)

    def __str__(self) -> str:
        return self.strerror


_ERRNO_GERMAN = {
    errno.ENOSPC: "kein Speicherplatz mehr frei",
    errno.EDQUOT: "Speicherkontingent erschöpft",
    errno.EACCES: "keine Berechtigung",
    errno.EPERM: "keine Berechtigung",
    errno.EROFS: "Dateisystem ist schreibgeschützt",
    errno.ENOENT: "Ordner nicht gefunden",
    errno.ENOTDIR: "kein Ordner",
    errno.EISDIR: "dort ist ein Ordner",
    errno.EIO: "Ein-/Ausgabefehler",
}


def _cause(exc: OSError) -> str:
    return _ERRNO_GERMAN.get(exc.errno, exc.strerror or str(exc))


@dataclass(frozen=True)
class SkippedEntry:
    participant: str
    path: str  # relative to the participant's home ("" for the home itself)
    reason: str  # German, e.g. "symbolische Verknüpfung übersprungen"

    def __str__(self) -> str:
        where = f"{self.participant}/{self.path}" if self.path else self.participant
        return f"{where}: {self.reason}"


@dataclass
class ArchiveReport:
    path: Path
    files: dict[str, int] = field(default_factory=dict)  # participant -> files in the zip
    skipped: list[SkippedEntry] = field(default_factory=list)
    total_bytes: int = 0  # of the files archived (before compression)
    missing: list[str] = field(default_factory=list)  # participants without a home directory
    limit_reached: bool = False  # stopped at max_total_bytes or max_files
    created: dt.datetime | None = None  # Europe/Berlin

    @property
    def file_count(self) -> int:
        return sum(self.files.values())


def _megabytes(size: int) -> str:
    return f"{format_number(size / MiB, 1)} MB"


# --- names inside the zip -------------------------------------------------------------------

_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f\\/:*?"<>|]')
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def safe_component(name: str) -> str:
    """One file or folder name as it may stand in the zip: valid UTF-8, nothing that a zip
    tool or Windows reads as a separator, drive or device, never ``.``/``..`` or empty."""
    name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    name = _UNSAFE_CHARS.sub("_", name).rstrip(" .")
    if _WINDOWS_RESERVED.match(name):
        name = "_" + name
    return name if name.strip(".") else "_"


def _display(parts: list[str]) -> str:
    """A relative path for the report (printable; the real name may hold anything)."""
    return "/".join(p.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for p in parts)


# --- the walk -------------------------------------------------------------------------------

class _Budget:
    def __init__(self, max_file_bytes: int, max_total_bytes: int, max_files: int):
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self.max_files = max_files
        self.total_bytes = 0
        self.files = 0
        self.exhausted = False


class _Archiver:
    def __init__(self, zf: zipfile.ZipFile, report: ArchiveReport, budget: _Budget):
        self.zf = zf
        self.report = report
        self.budget = budget
        self.names: set[str] = {README_NAME.lower()}

    def skip(self, participant: str, parts: list[str], reason: str) -> None:
        self.report.skipped.append(SkippedEntry(participant, _display(parts), reason))

    def unique_name(self, name: str) -> str:
        """Two names that became equal when cleaned (or differ only in case, which Windows does
        not tell apart) get " (2)", " (3)" … before the suffix."""
        if name.lower() not in self.names:
            self.names.add(name.lower())
            return name
        stem, dot, suffix = name.rpartition(".")
        if not stem or "/" in suffix:
            stem, dot, suffix = name, "", ""
        number = 2
        while True:
            candidate = f"{stem} ({number}){dot}{suffix}"
            if candidate.lower() not in self.names:
                self.names.add(candidate.lower())
                return candidate
            number += 1

    def home(self, participant: str, home: Path) -> None:
        folder = safe_component(participant)
        try:
            fd = os.open(home, _DIR_FLAGS)
        except FileNotFoundError:
            self.report.missing.append(participant)
            self.skip(participant, [], "kein Heimatverzeichnis gefunden – nichts archiviert")
            return
        except OSError as exc:  # O_DIRECTORY | O_NOFOLLOW on a symlink: ELOOP or ENOTDIR
            reason = ("Heimatverzeichnis ist eine symbolische Verknüpfung – nichts archiviert"
                      if _is_symlink(home) else
                      f"Heimatverzeichnis nicht lesbar ({_cause(exc)}) – nichts archiviert")
            self.skip(participant, [], reason)
            return
        self.report.files.setdefault(participant, 0)
        try:
            owner = os.fstat(fd).st_uid
            self.walk(participant, fd, [], [folder], owner)
        finally:
            os.close(fd)

    def walk(self, participant: str, dir_fd: int, parts: list[str], zip_parts: list[str], owner: int) -> None:
        try:
            with os.scandir(dir_fd) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.skip(participant, parts, f"Ordner nicht lesbar ({_cause(exc)}) – übersprungen")
            return
        for entry in entries:
            if self.budget.exhausted:
                return
            name = entry.name
            if name.startswith("."):
                continue  # hidden: checkpoints, caches, settings, BIF's own files
            here = [*parts, name]
            try:  # the type as listed (lstat); opening checks again
                is_link = entry.is_symlink()
                is_dir = not is_link and entry.is_dir(follow_symlinks=False)
                is_file = not is_link and not is_dir and entry.is_file(follow_symlinks=False)
            except OSError as exc:
                self.skip(participant, here, f"nicht lesbar ({_cause(exc)}) – übersprungen")
                continue
            if is_link:
                self.skip(participant, here, "symbolische Verknüpfung übersprungen")
            elif is_dir:
                self.directory(participant, dir_fd, here, [*zip_parts, safe_component(name)], owner)
            elif not name.lower().endswith(INCLUDED_SUFFIXES):
                continue  # not a kind of file the archive collects
            elif is_file:
                self.file(participant, dir_fd, here, [*zip_parts, safe_component(name)], owner)
            else:
                self.skip(participant, here, "keine normale Datei (z. B. FIFO, Gerät, Socket) übersprungen")

    def directory(self, participant: str, parent_fd: int, parts: list[str], zip_parts: list[str],
                  owner: int) -> None:
        if len(parts) > MAX_DEPTH:
            self.skip(participant, parts, f"mehr als {MAX_DEPTH} Ordner tief verschachtelt – übersprungen")
            return
        try:
            fd = os.open(parts[-1], _DIR_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            if _is_symlink(parts[-1], parent_fd):  # replaced by a symlink since it was listed
                self.skip(participant, parts, "symbolische Verknüpfung übersprungen")
            elif exc.errno == errno.ENOTDIR:
                self.skip(participant, parts, "während des Archivierens verändert – übersprungen")
            else:
                self.skip(participant, parts, f"Ordner nicht lesbar ({_cause(exc)}) – übersprungen")
            return
        try:
            self.walk(participant, fd, parts, zip_parts, owner)
        finally:
            os.close(fd)

    def file(self, participant: str, parent_fd: int, parts: list[str], zip_parts: list[str], owner: int) -> None:
        budget = self.budget
        try:
            fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=parent_fd)
        except OSError as exc:
            reason = ("symbolische Verknüpfung übersprungen" if exc.errno == errno.ELOOP
                      else f"nicht lesbar ({_cause(exc)}) – übersprungen")
            self.skip(participant, parts, reason)
            return
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                self.skip(participant, parts, "keine normale Datei (z. B. FIFO, Gerät, Socket) übersprungen")
                return
            if info.st_uid != owner:
                self.skip(participant, parts, "gehört nicht diesem Konto – übersprungen")
                return
            if info.st_size > budget.max_file_bytes:
                self.skip(participant, parts, f"zu groß ({_megabytes(info.st_size)}, höchstens "
                                              f"{_megabytes(budget.max_file_bytes)}) – übersprungen")
                return
            if (budget.total_bytes + info.st_size > budget.max_total_bytes
                    or budget.files + 1 > budget.max_files):
                self.stop(participant, parts)
                return
            data = _read_at_most(fd, budget.max_file_bytes + 1)
        except OSError as exc:  # reading; writing the zip below fails the whole archive
            self.skip(participant, parts, f"nicht lesbar ({_cause(exc)}) – übersprungen")
            return
        finally:
            os.close(fd)
        if len(data) > budget.max_file_bytes:  # grew while being read
            self.skip(participant, parts, f"zu groß (über {_megabytes(budget.max_file_bytes)}) – übersprungen")
            return
        if budget.total_bytes + len(data) > budget.max_total_bytes:
            self.stop(participant, parts)
            return
        name = self.unique_name("/".join(zip_parts))
        entry = zipfile.ZipInfo(name, date_time=_zip_time(info.st_mtime))
        entry.compress_type = zipfile.ZIP_DEFLATED
        entry.external_attr = (stat.S_IFREG | 0o644) << 16
        self.zf.writestr(entry, data)
        budget.total_bytes += len(data)
        budget.files += 1
        self.report.files[participant] += 1

    def stop(self, participant: str, parts: list[str]) -> None:
        budget = self.budget
        budget.exhausted = True
        self.report.limit_reached = True
        limit = (f"Obergrenze von {format_number(budget.max_files)} Dateien"
                 if budget.files + 1 > budget.max_files else
                 f"Obergrenze von {_megabytes(budget.max_total_bytes)} für das ganze Archiv")
        self.skip(participant, parts, f"{limit} erreicht – ab hier nichts mehr archiviert")


def _is_symlink(path: str | Path, dir_fd: int | None = None) -> bool:
    try:
        return stat.S_ISLNK(os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, min(_CHUNK, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _zip_time(mtime: float) -> tuple[int, int, int, int, int, int]:
    """A file's modification time for the zip (local time; zip cannot hold dates before 1980)."""
    when = local_time(dt.datetime.fromtimestamp(max(mtime, 0), dt.UTC))
    if when.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (min(when.year, 2107), when.month, when.day, when.hour, when.minute, when.second)


# --- README.txt -------------------------------------------------------------------------------

def readme_text(report: ArchiveReport, participants: list[str], cohort: str | None,
                max_file_bytes: int) -> str:
    """The German README at the root of the zip (CRLF, so that Windows' editor shows it right)."""
    created = format_local_datetime(report.created)
    title = f"Schulung {cohort}: Arbeiten der Teilnehmenden" if cohort else "Arbeiten der Teilnehmenden"
    lines = [
        title,
        "=" * len(title),
        "",
        f"Erstellt am {created} Uhr (Europe/Berlin).",
        "",
        ("Jeder Ordner enthält die Notebooks und Dateien eines Teilnehmerkontos "
         f"({', '.join(INCLUDED_SUFFIXES)}; höchstens {_megabytes(max_file_bytes)} je Datei)."),
        "Versteckte Dateien und Ordner (Name beginnt mit einem Punkt) sind nicht enthalten.",
        "",
        "Teilnehmende:",
    ]
    for participant in participants:
        if participant in report.missing:
            lines.append(f"  {participant}: kein Heimatverzeichnis gefunden")
        elif participant in report.files:
            count = report.files[participant]
            lines.append(f"  {participant}: {'eine Datei' if count == 1 else f'{count} Dateien'}")
        else:
            lines.append(f"  {participant}: nichts archiviert")
    lines += ["", f"Zusammen {report.file_count} Dateien, {_megabytes(report.total_bytes)}.", ""]
    if report.limit_reached:
        lines += ["Achtung: Die Obergrenze für das Archiv wurde erreicht, es ist unvollständig.", ""]
    if report.skipped:
        lines.append("Nicht archiviert:")
        lines += [f"  {entry}" for entry in report.skipped]
    else:
        lines.append("Nichts wurde ausgelassen.")
    return "\r\n".join(lines) + "\r\n"


# --- the archive ------------------------------------------------------------------------------

def archive_homes(homes: Mapping[str, Path], target: Path, *, max_file_bytes: int = 50 * MiB,
                  max_total_bytes: int = 500 * MiB, max_files: int = 20_000, cohort: str | None = None,
                  created: dt.datetime | None = None) -> ArchiveReport:
    """Write the participants' notebooks and files (``homes``: participant name → home
    directory) into the zip ``target``, one folder per participant, with a ``README.txt``.

    Safe to run as root over homes their owners control (see the module docstring). The zip
    appears atomically with mode 0600; on failure no file is left behind and ``ArchiveError``
    says why, in German. ``cohort`` names the training in the README; ``created`` fixes its
    time (default: now).
    """
    target = Path(target)
    report = ArchiveReport(path=target, created=local_time(created))
    budget = _Budget(max_file_bytes, max_total_bytes, max_files)
    participants = list(homes)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")  # 0600
    except OSError as exc:
        raise ArchiveError(f"Das Archiv kann in {target.parent} nicht angelegt werden: {_cause(exc)}",
                           exc) from exc
    try:
        with os.fdopen(fd, "w+b") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                archiver = _Archiver(zf, report, budget)
                for participant in participants:
                    if budget.exhausted:
                        archiver.skip(participant, [], "Obergrenze des Archivs erreicht – nicht archiviert")
                        continue
                    archiver.home(participant, Path(homes[participant]))
                report.total_bytes = budget.total_bytes
                readme = zipfile.ZipInfo(README_NAME, date_time=report.created.timetuple()[:6])
                readme.compress_type = zipfile.ZIP_DEFLATED
                readme.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(readme, readme_text(report, participants, cohort, max_file_bytes).encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ArchiveError(f"Das Archiv {target.name} konnte nicht geschrieben werden: {_cause(exc)}",
                               exc) from exc
        raise
    fsync_dir(target.parent)
    return report
