"""The verified store: immutable versioned snapshots and their catalog."""

from .catalog import Catalog, DatasetNotFound, SQLiteCatalog, VersionEntry
from .snapshots import SNAPSHOT_SUFFIXES, AccessDenied, SnapshotCorrupted, Store, WriteResult, sha256_file, xxh3_file

__all__ = ["SNAPSHOT_SUFFIXES", "AccessDenied", "Catalog", "DatasetNotFound", "SQLiteCatalog", "SnapshotCorrupted",
           "Store", "VersionEntry", "WriteResult", "sha256_file", "xxh3_file"]
