"""Fetching a city's public source files, pinned and checksummed.

Three ways, one result (the files under ``$BIF_HOME/sources/<city>/``, each verified):

- upstream (default): the pinned public URLs from ``city.yaml``; tables published only
  inside a SQL dump are extracted after the dump's own checksum was verified;
- a local mirror directory (``--mirror DIR`` or ``BIF_MIRROR``), laid out like the
  city's data directory — what tests and CI use;
- an HTTP mirror (``--mirror http://host/path/``) with the same layout, e.g. an
  intranet copy for administrations whose servers have no internet access.

A file whose checksum does not match is refused with a clear message and not saved;
the bootstrap ingests nothing when any file was refused. A file marked ``pin: false`` in
city.yaml is meant to change (a "latest" download): it is fetched every time and not compared
(docs/schedule.md, "Pinned and changing sources").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence
from urllib.parse import urljoin

import requests

from bif_lib.city.profile import CityProfile, SourceFile
from bif_lib.data.sqldump import extract_table
from bif_lib.fsutil import write_private

TIMEOUT = 60


class ChecksumMismatch(RuntimeError):
    pass


@dataclass
class FetchReport:
    fetched: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)   # German messages

    @property
    def ok(self) -> bool:
        return not self.refused


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download(url: str) -> bytes:
    response = requests.get(url, timeout=TIMEOUT)
    response.raise_for_status()
    return response.content


def _verify(data: bytes, expected: str, what: str) -> None:
    actual = _sha256(data)
    if actual != expected:
        raise ChecksumMismatch(f"Prüfsumme von {what} stimmt nicht: erwartet {expected[:16]}…, erhalten "
                               f"{actual[:16]}… – Datei beschädigt oder verändert, sie wird nicht verwendet.")


def fetch_sources(profile: CityProfile, destination: Path, mirror: str | Path | None = None,
                  progress: Callable[[str], None] | None = None) -> FetchReport:
    say = progress or (lambda message: None)
    dumps: dict[str, str] = {}  # upstream SQL dumps, downloaded once per run
    shipped = profile.directory / "sources"
    return _fetch_into(profile.sources, destination,
                       lambda source: _fetch(source, shipped if source.bundled else mirror, dumps, say),
                       keep=lambda source, target: source.pin and _holds(target, source.sha256))


def _holds(target: Path, sha256: str) -> bool:
    return target.is_file() and _sha256(target.read_bytes()) == sha256


def _fetch_into(sources: Iterable[SourceFile], destination: Path, obtain: Callable[[SourceFile], bytes], *,
                keep: Callable[[SourceFile, Path], bool], mode: int = 0o600) -> FetchReport:
    """Each source into ``destination/<path>``, unless ``keep`` says the copy there is good; what
    cannot be obtained or fails its checksum is reported (German), never written."""
    report = FetchReport()
    for source in sources:
        target = destination / source.path
        if keep(source, target):
            report.unchanged.append(source.path)
            continue
        try:
            data = obtain(source)
        except ChecksumMismatch as exc:
            report.refused.append(str(exc))
            continue
        except (OSError, requests.RequestException, ValueError) as exc:
            report.refused.append(f"{source.path} konnte nicht geholt werden: {exc}")
            continue
        write_private(target, data, mode=mode)
        report.fetched.append(source.path)
    return report


def fetch_source(source: SourceFile, mirror: str | Path | None = None,
                 progress: Callable[[str], None] | None = None) -> bytes:
    """One source file's bytes, verified against its pinned checksum (a file with ``pin: false``
    is not compared). Raises ``ChecksumMismatch``, ``OSError``, ``requests.RequestException`` or
    ``ValueError``; used by the scheduled refresh (``bif_lib.schedule``)."""
    return _fetch(source, mirror, {}, progress or (lambda message: None))


def _fetch(source: SourceFile, mirror, dumps: dict[str, str], say) -> bytes:
    data, extracted = _obtain(source, mirror, dumps, say)
    # A table extracted from a SQL dump is covered by the dump's pinned checksum;
    # its CSV bytes depend on the converter, so they are not compared.
    if source.pin and not extracted:
        _verify(data, source.sha256, source.path)
    return data


def fetch_pinned(files: Iterable[SourceFile], destination: Path, mirrors: Sequence[str | Path | None] = (),
                 progress: Callable[[str], None] | None = None, *, mode: int = 0o644) -> FetchReport:
    """Pinned files that belong to no city, e.g. the standards open data is validated against
    (``bif_lib.opendata.shapes``), into ``destination`` under their ``path``.

    Each file comes from the first local mirror directory that has it (``None`` entries are
    skipped), else from an HTTP mirror or its pinned ``url``; every copy is checked against its
    sha256 before it is saved, and a file already in ``destination`` with the right checksum is
    kept. A mismatch in a mirror is refused, not bypassed by another copy.
    """
    say = progress or (lambda message: None)
    local = [m for m in mirrors if m is not None]

    def obtain(source: SourceFile) -> bytes:
        data = _obtain_pinned(source, local, say)
        _verify(data, source.sha256, source.path)
        return data

    return _fetch_into(files, destination, obtain, keep=lambda source, target: _holds(target, source.sha256),
                       mode=mode)


def _obtain_pinned(source: SourceFile, mirrors: list[str | Path], say) -> bytes:
    for mirror in mirrors:
        mirror = str(mirror)
        if mirror.startswith(("http://", "https://")):
            say(f"Lade {source.path} vom Spiegel {mirror}")
            return _download(urljoin(mirror.rstrip("/") + "/", source.path))
        candidate = Path(mirror) / source.path
        if candidate.is_file():
            say(f"Lese {source.path} aus dem Spiegelverzeichnis {mirror}")
            return candidate.read_bytes()
    if source.url:
        say(f"Lade {source.url}")
        return _download(source.url)
    raise ValueError(f"{source.path}: in keinem Spiegelverzeichnis und ohne Bezugsquelle")


def _obtain(source: SourceFile, mirror, dumps: dict[str, str], say) -> tuple[bytes, bool]:
    """The file's bytes, and whether they were extracted from a (verified) SQL dump."""
    if mirror is not None:
        mirror = str(mirror)
        if mirror.startswith(("http://", "https://")):
            url = urljoin(mirror.rstrip("/") + "/", source.path)
            say(f"Lade {source.path} vom Spiegel {mirror}")
            return _download(url), False
        say(f"Lese {source.path} aus dem Spiegelverzeichnis")
        return (Path(mirror) / source.path).read_bytes(), False
    if source.url:
        say(f"Lade {source.url}")
        return _download(source.url), False
    if source.upstream and source.upstream.get("sql_table"):
        url = source.upstream["url"]
        if url not in dumps:
            say(f"Lade SQL-Dump {url}")
            raw = _download(url)
            _verify(raw, source.upstream["sha256"], url)
            dumps[url] = raw.decode("utf-8")
        return extract_table(dumps[url], source.upstream["sql_table"]).encode("utf-8"), True
    raise ValueError(f"{source.path}: keine Bezugsquelle im Stadtprofil angegeben")
