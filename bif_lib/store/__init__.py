"""The verified store: immutable versioned snapshots and their catalog."""

from bif_lib.store.catalog import (
                      Catalog,
                      CatalogDamaged,
                      CatalogError,
                      CatalogOutOfSync,
                      CatalogUnavailable,
                      DatasetNotFound,
                      InvalidAsOf,
                      SQLiteCatalog,
                      VersionEntry,
                      moment_of,
                      open_catalog,
)
from bif_lib.store.snapshots import (
                      SIDECAR_SUFFIX,
                      SNAPSHOT_SUFFIXES,
                      AccessDenied,
                      RebuildResult,
                      SnapshotCorrupted,
                      Store,
                      StoreWriteError,
                      WriteResult,
                      sha256_file,
                      xxh3_file,
)

__all__ = ["SIDECAR_SUFFIX", "SNAPSHOT_SUFFIXES", "AccessDenied", "Catalog", "CatalogDamaged", "CatalogError",
           "CatalogOutOfSync", "CatalogUnavailable", "DatasetNotFound", "InvalidAsOf", "RebuildResult",
           "SQLiteCatalog", "SnapshotCorrupted", "Store", "StoreWriteError", "VersionEntry", "WriteResult",
           "moment_of", "open_catalog", "sha256_file", "xxh3_file"]
