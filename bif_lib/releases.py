"""Releases out of the statistics office: a target contract's ``release`` block → protected table
+ certificate → store (``bif release``).

A release reads confidential microdata (recorded in the audit trail with its purpose), protects
the table with ``bif_lib.disclosure.protect`` and ingests the result through the target table's
contract together with its certificate; the store admits it only when the certificate matches
(``store.admission``). The contract says what is released::

    release:
      source: melderegister_personen            # confidential microdata with a record_id
      method: cellkey                           # or suppression
      by: {year: extract_year, district_id: district_id, sex: sex, age: age}   # target <- source
      top_code: {age: 100}                      # open upper class (100 = 100 and older)
      count: population                         # name of the count column
      parameters: {}                            # passed on to protect() (e.g. min_frequency)

Record keys for the Cell Key Method are created once, when microdata with a ``record_id`` enter
the office (``store.record_keys``, called by the ingest), and kept in the confidential area.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bif_lib import config
from bif_lib.contracts import Contract, load_contract
from bif_lib.disclosure import Certificate, DisclosureError, protect
from bif_lib.store import Store
from bif_lib.store.record_keys import RecordKeysMissing, record_keys_for


class ReleaseError(RuntimeError):
    """A release could not be made (message in German)."""


def release_table(contract: Contract, records: pd.DataFrame, keys: np.ndarray | None, *,
                  released_by: str, sources: list[dict] | None = None,
                  defaults: dict | None = None) -> tuple[pd.DataFrame, Certificate]:
    """Protect the table the contract's ``release`` block describes (no I/O). ``defaults``: the city
    profile's ``disclosure`` section (min_frequency, protection_range, unperturbed)."""
    spec = contract.raw.get("release")
    if not spec:
        raise ReleaseError(f"Der Vertrag „{contract.id}“ hat keinen Abschnitt „release“: er beschreibt keine Freigabe.")
    by = dict(spec["by"])
    missing = [column for column in by.values() if column not in records.columns]
    if missing:
        raise ReleaseError(f"Die Einzeldaten „{spec['source']}“ haben die Spalten {', '.join(missing)} nicht.")
    frame = pd.DataFrame({target: records[source].to_numpy() for target, source in by.items()})
    categories = {}
    for column, top in (spec.get("top_code") or {}).items():
        frame[column] = np.minimum(frame[column].to_numpy(), top)
        categories[column] = list(range(0, int(top) + 1))
    frame.attrs["bif"] = dict(records.attrs.get("bif") or {})
    method = spec.get("method", "cellkey")
    parameters = {**_city_defaults(defaults or {}, method), **(spec.get("parameters") or {})}
    try:
        table, certificate = protect(
            frame, by=list(by), method=method, record_keys=keys if method == "cellkey" else None,
            count_column=spec.get("count", "anzahl"), dataset=contract.id, released_by=released_by,
            categories=categories or None, sources=sources, **parameters)
    except DisclosureError as error:
        raise ReleaseError(f"„{contract.id}“ lässt sich nicht schützen: {error}") from None
    return _typed(table, contract), certificate


def _city_defaults(defaults: dict, method: str) -> dict:
    """The profile's settings that apply to ``method``."""
    keys = ("unperturbed",) if method == "cellkey" else ("min_frequency", "protection_range", "unperturbed")
    return {k: defaults[k] for k in keys if defaults.get(k) not in (None, [])}


def _typed(table: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Columns in the contract's order and with its integer types, so the file reads back as written."""
    names = [f.name for f in contract.fields if f.name in table.columns]
    table = table[names + [c for c in table.columns if c not in names]]
    for f in contract.fields:
        if f.name in table.columns and f.type in ("integer", "year") and not table[f.name].isna().any():
            table[f.name] = table[f.name].astype("int64")
    return table


def release(contract: Contract | Path | str, *, purpose: str, store: Store | None = None,
            user: str | None = None, progress=None):
    """Make the release the contract describes and ingest it (through the office's gate where the
    member has no write access). Returns ``(IngestOutcome, Certificate)``."""
    from bif_lib import api
    from bif_lib.ingest import default_store, ingest

    say = progress or (lambda message: None)
    contract = contract if isinstance(contract, Contract) else load_contract(contract)
    store = store or default_store()
    spec = contract.raw.get("release") or {}
    if not spec:
        raise ReleaseError(f"Der Vertrag „{contract.id}“ hat keinen Abschnitt „release“.")
    say(f"Lese „{spec['source']}“ (vertraulich, protokolliert) …")
    records = api.load(spec["source"], purpose=purpose, store=store)
    meta = records.attrs["bif"]
    source_entry = store.catalog.get(spec["source"], version=meta["version"])
    keys = None
    if spec.get("method", "cellkey") == "cellkey":
        record_id = source_entry.contract.get("record_id")
        if not record_id:
            raise ReleaseError(f"Der Vertrag von „{spec['source']}“ nennt kein record_id-Feld; ohne Record-Keys ist "
                               "keine Cell-Key-Freigabe möglich.")
        try:
            keys = record_keys_for(store, spec["source"], records[record_id])
        except RecordKeysMissing as missing:
            raise ReleaseError(str(missing)) from None
    say("Schütze die Tabelle …")
    table, certificate = release_table(contract, records, keys, released_by=user or config.current_user(),
                                       sources=[{"dataset": spec["source"], "version": meta["version"]}],
                                       defaults=_profile_disclosure(contract))
    work = Path(tempfile.mkdtemp(prefix=f"bif-release-{contract.id}-"))
    os.chmod(work, 0o700)
    try:
        path = work / f"{contract.id}.parquet"
        table.to_parquet(path, index=False)
        certificate_file = work / f"{contract.id}.zertifikat.json"
        certificate_file.write_text(certificate.to_json(), encoding="utf-8")
        say("Spiele die Freigabe ein …")
        outcome = ingest(contract, path, store=store, certificate=certificate_file)
    finally:
        for leftover in work.iterdir():
            leftover.unlink()
        work.rmdir()
    return outcome, certificate


def _profile_disclosure(contract: Contract) -> dict:
    """The ``disclosure`` section of the city profile beside the contract (none: the defaults)."""
    import yaml

    profile = contract.path.parent / "city.yaml" if contract.path else None
    if profile is None or not profile.exists():
        return {}
    return dict((yaml.safe_load(profile.read_text(encoding="utf-8")) or {}).get("disclosure") or {})


def certificate_of(entry) -> Certificate | None:
    """The release certificate a stored version carries, if any."""
    data = (entry.lineage or {}).get("release")
    return Certificate.from_dict(data) if data else None


__all__ = ["ReleaseError", "certificate_of", "release", "release_table"]
