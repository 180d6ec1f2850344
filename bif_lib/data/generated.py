"""Datasets BIF generates itself, named in city.yaml's ``generated`` section.

- ``synthetic_register``: seeded synthetic resident-register microdata calibrated to the
  published totals (classified confidential, labelled synthetic); see bif_lib.synthetic.
- ``life_table``: the modelled Schleswig-Holstein life table the projection uses; see
  bif_lib.planning.lifetable.

Each generator writes a Parquet file under ``<sources>/generated/`` that is then ingested
through its contract like any department file. Output is deterministic, so a rerun is
recognised as unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from ..contracts import Contract
from ..store import Store
from .profile import CityProfile


def contract_ids(profile: CityProfile) -> set[str]:
    spec = profile.generated
    ids = set()
    register = spec.get("synthetic_register")
    if register:
        ids |= {register["persons_contract"], register["events_contract"]}
    if spec.get("life_table"):
        ids.add(spec["life_table"]["contract"])
    return ids


def build(profile: CityProfile, store: Store, destination: Path, contracts: dict[str, Contract], *,
          include_confidential: bool, progress: Callable[[str], None]) -> dict[str, Path | str]:
    """Generate the files; returns dataset -> file to ingest, or a German reason for skipping it."""
    spec = profile.generated
    out: dict[str, Path | str] = {}
    if spec.get("life_table") and spec["life_table"]["contract"] in contracts:
        progress("Erzeuge Sterbetafel (Modell)")
        out[spec["life_table"]["contract"]] = _life_table(destination)
    register = spec.get("synthetic_register")
    if register and register["persons_contract"] in contracts:
        if not include_confidential:
            reason = "vertraulich – ohne getrennte Benutzerkonten werden keine vertraulichen Daten gehalten"
            out[register["persons_contract"]] = reason
            out[register["events_contract"]] = reason
        else:
            progress("Erzeuge synthetische Melderegister-Mikrodaten")
            out.update(_synthetic_register(register, store, destination))
    return out


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def _life_table(destination: Path) -> Path:
    from ..planning.lifetable import modelled_life_table

    return _write(modelled_life_table(), destination / "generated" / "sterbetafel_sh.parquet")


def _synthetic_register(spec: dict, store: Store, destination: Path) -> dict[str, Path]:
    from ..synthetic import PublishedTotals, generate_register

    sozialatlas = destination / "sozialatlas_2022"
    bezirke = _bezirke(store)
    totals = PublishedTotals.from_sozialatlas_dir(sozialatlas, bezirke)
    register = generate_register(totals, seed=spec["seed"], years=range(spec["first_year"], spec["last_year"] + 1))
    return {
        spec["persons_contract"]: _write(register.persons, destination / "generated" / "melderegister_personen.parquet"),
        spec["events_contract"]: _write(register.events, destination / "generated" / "melderegister_ereignisse.parquet"),
    }


def _bezirke(store: Store) -> pd.DataFrame:
    from ..api import load

    frame = load("statistische_bezirke", store=store)
    return pd.DataFrame({"bezirk_id": frame["bezirk_id"].astype(str), "district_id": frame["district_id"].astype(int),
                         "area_km2": frame.geometry.area / 1e6})
