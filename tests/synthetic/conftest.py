"""A store with just the datasets Flensburg's register totals need (faster than a whole bootstrap)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _named_datasets(spec) -> set[str]:
    if isinstance(spec, dict):
        found = {spec["dataset"]} if isinstance(spec.get("dataset"), str) else set()
        return found.union(*(_named_datasets(value) for value in spec.values()))
    if isinstance(spec, list):
        return set().union(*(_named_datasets(value) for value in spec))
    return set()


@pytest.fixture(scope="session")
def totals_store(tmp_path_factory, mirror_dir):
    """Store holding the datasets ``generated.synthetic_register.totals`` names (and what they reference),
    ingested from the mirror through their contracts."""
    from bif_lib.city.profile import load_profile
    from bif_lib.data.order import ingest_order
    from bif_lib.ingest import ingest
    from bif_lib.store import Store
    from bif_lib.validation import referenced_datasets

    profile = load_profile("flensburg")
    contracts = profile.contracts()
    spec = profile.generated["synthetic_register"]["totals"]
    wanted = _named_datasets(spec) | ({spec["subdistricts"]} if isinstance(spec.get("subdistricts"), str) else set())
    pending = list(wanted)
    while pending:
        for ref in referenced_datasets(contracts[pending.pop()]):
            if ref not in wanted and ref in contracts:
                wanted.add(ref)
                pending.append(ref)
    home = tmp_path_factory.mktemp("synthetic-totals-home")
    previous = os.environ.get("BIF_HOME")
    os.environ["BIF_HOME"] = str(home)
    try:
        store = Store(home / "store")
        for dataset in ingest_order({d: contracts[d] for d in wanted}):
            contract = contracts[dataset]
            outcome = ingest(contract, Path(mirror_dir) / contract.source["path"], store=store)
            assert outcome.ok, outcome.report.to_text()
    finally:
        if previous is None:
            os.environ.pop("BIF_HOME", None)
        else:
            os.environ["BIF_HOME"] = previous
    return store
