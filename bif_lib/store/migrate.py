"""Move a store's catalog between SQLite and PostgreSQL (``bif catalog migrate``).

Under the store's writers' lock (no ingest runs meanwhile) and the target's own lock:

1. the store is checked and recovered as before every write: the source must list every
   version whose sidecar lies in the store (otherwise ``bif catalog rebuild`` first);
2. a target that already holds versions is refused unless ``force`` — and even then its old
   content is kept (``replace_all``: SQLite ``….bak-<time>``, PostgreSQL ``versions_bak_<time>``);
3. every row is copied in one step and read back: the number of rows and a digest over the
   canonical rows (``catalog_digest``: each row exactly as the catalog stores it, JSON text
   included, in (dataset, version) order) must be the source's, else nothing is switched;
4. the source's rows stay as they are. A SQLite source gets a marker beside it
   (``catalog.sqlite.moved``), after which no process reads or writes the copy left behind
   (``SQLiteCatalog``), unless ``keep_source``; a SQLite target loses its marker.

A PostgreSQL source is not marked: it is only used where ``BIF_CATALOG_URL`` names it, and
the platform stops naming it when the settings say ``catalog.backend: sqlite``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from bif_lib.fsutil import write_private
from bif_lib.store.catalog import Catalog, CatalogDamaged, CatalogError, SQLiteCatalog, VersionEntry, _record
from bif_lib.store.snapshots import Store

MOVED_FORMAT = "bif-catalog-moved"


@dataclass
class MigrationResult:
    source: str
    target: str
    versions: int
    datasets: int
    digest: str
    replaced: int = 0        # versions the target held before (kept as its backup)
    backup: str = ""         # where the target's old content went
    marked: str = ""         # the marker written beside a SQLite source


def canonical_rows(entries: list[VersionEntry]) -> list[str]:
    """Each row as the catalog stores it (``_record``), as JSON with sorted keys, by dataset and version."""
    ordered = sorted(entries, key=lambda e: (e.dataset_id, e.version))
    return [json.dumps(_record(e), ensure_ascii=False, sort_keys=True) for e in ordered]


def catalog_digest(entries: list[VersionEntry]) -> str:
    """sha256 over the canonical rows: equal digests, equal catalogs row for row."""
    digest = hashlib.sha256()
    for row in canonical_rows(entries):
        digest.update(row.encode("utf-8") + b"\n")
    return digest.hexdigest()


def migrate(store: Store, target: Catalog, *, force: bool = False, keep_source: bool = False) -> MigrationResult:
    """Copy the catalog of ``store`` into ``target`` and verify the copy (German errors, nothing
    switched on any failure)."""
    source = store.catalog
    if source.location == target.location:
        raise CatalogError(f"Quelle und Ziel sind derselbe Katalog ({source.location}); nichts zu tun.")
    if isinstance(target, SQLiteCatalog) and not target.ignore_moved:
        target = SQLiteCatalog(target.path, ignore_moved=True)
    with store._exclusive(), target.writer_lock():
        store.last_recovery = store.recover()  # CatalogOutOfSync / CatalogDamaged: rebuild first
        entries = source.all_versions()
        try:
            existing = target.all_versions()
        except CatalogDamaged:
            if not force:
                raise CatalogError(f"Das Ziel {target.location} ist kein lesbarer Katalog. Mit --force wird es "
                                   f"ersetzt (der alte Inhalt bleibt als Sicherung erhalten). Nichts wurde "
                                   f"verändert.") from None
            existing = []
        if existing and not force:
            raise CatalogError(f"Das Ziel {target.location} enthält schon {len(existing)} Version(en). Zum Ersetzen "
                               f"--force angeben (der alte Inhalt bleibt als Sicherung erhalten). Nichts wurde "
                               f"verändert.")
        before = set(map(str, target.backups()))
        target.replace_all(entries)
        copied = target.all_versions()
        expected = catalog_digest(entries)
        if len(copied) != len(entries) or catalog_digest(copied) != expected:
            raise CatalogError(f"Die Prüfung der Kopie in {target.location} ist fehlgeschlagen ({len(copied)} statt "
                               f"{len(entries)} Version(en) oder abweichende Inhalte). Die Quelle {source.location} "
                               f"ist unverändert und bleibt in Gebrauch; bitte den Betrieb verständigen.")
        result = MigrationResult(source=source.location, target=target.location, versions=len(entries),
                                 datasets=len({e.dataset_id for e in entries}), digest=expected,
                                 replaced=len(existing))
        new_backups = [b for b in map(str, target.backups()) if b not in before]
        result.backup = new_backups[-1] if new_backups and existing else ""
        if isinstance(target, SQLiteCatalog):
            target.moved_marker.unlink(missing_ok=True)
        if isinstance(source, SQLiteCatalog) and not keep_source and source.path.exists():
            note = {"format": MOVED_FORMAT, "moved_to": target.location, "versions": len(entries),
                    "digest": expected, "moved_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            write_private(source.moved_marker, json.dumps(note, ensure_ascii=False, indent=1), mode=0o644)
            result.marked = str(source.moved_marker)
        return result
