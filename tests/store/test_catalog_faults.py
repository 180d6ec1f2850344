"""Fault injection on the catalog: missing, emptied, restored from an older backup, corrupted,
a version's row deleted, a column dropped — on SQLite and on PostgreSQL (``BACKENDS``; there
"missing" is a dropped table, "empty" a truncated one, "older" an older dump restored over the
rows, "corrupted" rows that no longer parse).

For each fault: the next ingest — also one whose data is unchanged — is refused in German
with the fix (``bif catalog rebuild``) and deletes nothing; loading and ``bif catalog verify``
say what is wrong instead of answering from a wrong catalog; ``bif catalog rebuild`` restores
a catalog equal to the original from the sidecars; afterwards ingesting works again.
On the code before the sidecars, the ingest after a missing or emptied catalog deleted every
snapshot the catalog did not list, and verify reported an empty catalog as intact.
"""

from __future__ import annotations

import pytest
from store_helpers import BACKENDS, FAULTS, contract_dict, delivery, file_digests

import bif_lib
from bif_lib.store import CatalogDamaged, CatalogError, CatalogOutOfSync, DatasetNotFound, Store

REGISTER = contract_dict(id="register_test", title="Register (synthetisch)", classification="confidential",
                         synthetic=True, description="synthetische Testdaten (vertraulich)")
OPEN = contract_dict()


def _catalog_rows(store: Store) -> list[dict]:
    return [e.to_dict() for e in store.catalog.all_versions()]


@pytest.fixture(params=BACKENDS)
def catalog_backend(request):
    return request.param


@pytest.fixture
def filled(put, store, tmp_path, catalog_admin):
    """Five versions in two areas; a catalog copy taken after the second one ("older backup")."""
    assert put(OPEN, delivery(100)).status == "created"
    assert put(REGISTER, delivery(5)).status == "created"
    older = catalog_admin.save(tmp_path)
    assert put(OPEN, delivery(200)).status == "created"
    assert put(OPEN, delivery(300)).status == "created"
    assert put(REGISTER, delivery(6)).status == "created"
    assert store.verify() == []
    return {"rows": _catalog_rows(store), "files": file_digests(store.root), "older": older}




@pytest.mark.parametrize("fault", FAULTS)
def test_ingest_after_catalog_fault_is_refused_and_deletes_nothing(fault, filled, put, store, catalog_admin):
    catalog_admin.break_(fault, filled["older"])
    for text in (delivery(300), delivery(400)):  # the unchanged latest data, and new data
        with pytest.raises((CatalogOutOfSync, CatalogDamaged)) as raised:
            put(OPEN, text)
        message = str(raised.value)
        assert "bif catalog rebuild" in message and "Katalog" in message
        assert "nichts gespeichert" in message or "beschädigt" in message
        assert file_digests(store.root) == filled["files"]  # not one snapshot file deleted or changed
    assert not any(store.root.rglob(".quarantine"))


@pytest.mark.parametrize("fault", FAULTS)
def test_load_and_verify_explain_the_catalog_fault(fault, filled, store, catalog_admin):
    catalog_admin.break_(fault, filled["older"])
    if fault in ("older", "row_deleted"):
        # the old catalog still answers, for what it knows; verify names what it does not
        expected = {"older": 1, "row_deleted": 3}[fault]
        assert bif_lib.load("einwohner", store=store).attrs["bif"]["version"] == expected
    elif fault in ("corrupted", "column_dropped"):
        with pytest.raises(CatalogDamaged, match="bif catalog rebuild"):
            bif_lib.load("einwohner", store=store)
    else:
        with pytest.raises(DatasetNotFound, match="bif catalog rebuild"):
            bif_lib.load("einwohner", store=store)
    problems = store.verify()
    assert problems and all("Traceback" not in p for p in problems)
    assert any("bif catalog rebuild" in p for p in problems)
    assert file_digests(store.root) == filled["files"]


# the CLI round (four `bif` processes each): every fault on PostgreSQL, the file faults on SQLite
# (a deleted row or dropped column behaves there as on PostgreSQL: see the two tests above)
@pytest.mark.parametrize("catalog_backend, fault", [(b, f) for b in BACKENDS for f in FAULTS
                                                    if b == "postgresql" or f not in ("row_deleted", "column_dropped")])
def test_cli_verify_and_rebuild_restore_the_original_catalog(fault, filled, put, store, bif, catalog_admin):
    catalog_admin.break_(fault, filled["older"])
    broken = catalog_admin.state()

    verify = bif("catalog", "verify")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "unversehrt" not in verify.stdout and "Traceback" not in verify.stdout + verify.stderr
    assert "bif catalog rebuild" in verify.stdout + verify.stderr

    ingest = bif("ingest", _contract_file(store, OPEN), _delivery_file(store, delivery(400)))
    assert ingest.returncode != 0 and "Traceback" not in ingest.stdout + ingest.stderr
    assert "bif catalog rebuild" in ingest.stderr
    assert file_digests(store.root) == filled["files"]

    rebuild = bif("catalog", "rebuild")
    assert rebuild.returncode == 0, rebuild.stdout + rebuild.stderr
    assert "5 Version(en) von 2" in rebuild.stdout
    assert _catalog_rows(store) == filled["rows"]          # equal to the original, row by row
    assert file_digests(store.root) == filled["files"]     # no snapshot file touched
    assert store.verify() == []
    if broken is not None and fault != "empty":            # the old catalog is kept, never deleted
        backups = store.catalog.backups()
        assert len(backups) == 1 and catalog_admin.backup_state(backups[0]) == broken

    again = bif("catalog", "verify")
    assert again.returncode == 0 and "unversehrt" in again.stdout
    assert put(OPEN, delivery(300)).status == "unchanged"
    outcome = put(OPEN, delivery(400))
    assert outcome.status == "created" and outcome.entry.version == 4
    assert bif_lib.load("einwohner", version=1, store=store)["residents"].tolist() == [101, 102, 103]


def test_rebuild_keeps_rows_of_a_missing_snapshot_and_reports_them(filled, store):
    """A snapshot deleted by hand: rebuild keeps what the catalog knew and says the data is gone."""
    entry = store.catalog.get("einwohner", version=2)
    for name in (entry.path, entry.read_copy, entry.path.replace(".parquet", ".meta.json")):
        (store.root / name).unlink()
    result = store.rebuild_catalog()
    assert [e.to_dict() for e in result.entries] == filled["rows"]
    assert any("Snapshot fehlt" in p and "einwohner v2" in p for p in result.problems)


def test_rebuild_refuses_without_read_access_to_an_area(filled, store, monkeypatch):
    """An account that cannot list the confidential area would rebuild a catalog without it."""
    from bif_lib.store import snapshots

    real = snapshots.Path.iterdir

    def denied(self):
        if self.name == "confidential":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(snapshots.Path, "iterdir", denied)
    with pytest.raises(CatalogError, match="kein Lesezugriff"):
        store.rebuild_catalog()
    monkeypatch.undo()
    assert _catalog_rows(store) == filled["rows"]


def _contract_file(store: Store, raw: dict):
    import yaml

    path = store.root.parent / f"{raw['id']}-cli.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _delivery_file(store: Store, text: str):
    path = store.root.parent / "lieferung-cli.csv"
    path.write_text(text, encoding="utf-8")
    return path
