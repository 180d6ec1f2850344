"""The verified store: immutable versioned snapshots and their catalog."""

from .catalog import Catalog, DatasetNotFound, SQLiteCatalog, VersionEntry
from .snapshots import AccessDenied, SnapshotCorrupted, Store, WriteResult, sha256_file

__all__ = ["AccessDenied", "Catalog", "DatasetNotFound", "SQLiteCatalog", "SnapshotCorrupted", "Store",
           "VersionEntry", "WriteResult", "sha256_file"]
