"""Datasets BIF generates itself, named in city.yaml's ``generated`` section.

- ``life_table``: the modelled Schleswig-Holstein life table the projection uses
  (bif_lib.planning.lifetable).
- ``synthetic_register``: seeded synthetic resident-register microdata calibrated to the
  published totals (confidential, labelled synthetic; bif_lib.synthetic), and what the
  statistics office releases from it for planning: population by single age and the
  projection parameters (internal; bif_lib.planning.release).

Each generator writes a Parquet file under ``<sources>/generated/`` that is then ingested
through its contract like any department file. Output is deterministic, so a rerun is
recognised as unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pandas as pd

from bif_lib.contracts import Contract
from bif_lib.data.profile import CityProfile
from bif_lib.store import Store


def contract_ids(profile: CityProfile) -> set[str]:
    spec = profile.generated
    ids = set()
    register = spec.get("synthetic_register")
    if register:
        ids |= {register["persons_contract"], register["events_contract"]}
        ids |= {(register.get("release") or {}).get("parameters_contract")}
    if spec.get("life_table"):
        ids.add(spec["life_table"]["contract"])
    ids.discard(None)
    return ids


def build(profile: CityProfile, store: Store, destination: Path, contracts: dict[str, Contract], *,
          include_confidential: bool, progress: Callable[[str], None]) -> dict[str, Path | str]:
    """Generate the files; returns dataset -> file to ingest, or a German reason for skipping it."""
    spec = profile.generated
    out: dict[str, Path | str] = {}
    if spec.get("life_table"):
        progress("Erzeuge Sterbetafel (Modell)")
        out[spec["life_table"]["contract"]] = _life_table(destination)
    register = spec.get("synthetic_register")
    if register:
        ids = sorted(contract_ids(profile) - {spec.get("life_table", {}).get("contract")})
        if not include_confidential:
            for dataset in ids:
                out[dataset] = ("ausgelassen: ohne getrennte Benutzerkonten hält BIF keine vertraulichen Daten "
                                "(und keine daraus abgeleiteten Freigaben)")
        else:
            progress("Erzeuge synthetische Melderegister-Mikrodaten")
            out.update(_synthetic_register(register, store, destination, progress))
    unknown = set(out) - set(contracts)
    if unknown:
        raise KeyError(f"city.yaml nennt erzeugte Datensätze ohne Vertrag: {', '.join(sorted(unknown))}")
    return out


def _write(frame: pd.DataFrame, path: Path) -> Path:
    sealed_dir(path.parent)
    frame.to_parquet(path, index=False)
    return path


def certificate_path(path: Path) -> Path:
    """Where a released table's disclosure-control certificate lies: beside the table."""
    return path.with_name(path.stem + ".zertifikat.json")


def sealed_dir(path: Path) -> Path:
    """The folder of generated files: it holds register microdata, so it is made unreachable for
    other accounts before the first byte is written (0700; ``apply_store_permissions`` opens it
    to the statistics office's group)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        mode = path.stat().st_mode & 0o7777
        if mode & 0o007:
            os.chmod(path, mode & ~0o007)
    return path


def _life_table(destination: Path) -> Path:
    from bif_lib.planning.lifetable import life_table

    return _write(life_table(), destination / "generated" / "sterbetafel_sh.parquet")


def _synthetic_register(spec: dict, store: Store, destination: Path,
                        progress: Callable[[str], None]) -> dict[str, Path]:
    from bif_lib.loaders import release_parameters_checked
    from bif_lib.synthetic import PublishedTotals, generate_register

    totals = PublishedTotals.from_sozialatlas_dir(destination / "sozialatlas_2022", _bezirke(store))
    register = generate_register(totals, seed=spec["seed"], years=range(spec["first_year"], spec["last_year"] + 1))
    generated = destination / "generated"
    files = {spec["persons_contract"]: _write(register.persons, generated / f"{spec['persons_contract']}.parquet"),
             spec["events_contract"]: _write(register.events, generated / f"{spec['events_contract']}.parquet")}
    release = spec.get("release")
    if release and release.get("parameters_contract"):
        # the projection parameters are model output, released after an output check; the
        # population table is released from the stored register with the Cell Key Method
        # (bootstrap: bif_lib.releases)
        progress("Statistikstelle: Freigabe der Projektionsparameter (Ausgabeprüfung)")
        dataset = release["parameters_contract"]
        table, certificate = release_parameters_checked(
            register.persons, register.events, tuple(release["base_period"]), dataset=dataset,
            sources=[{"dataset": spec["persons_contract"]}, {"dataset": spec["events_contract"]}])
        files[dataset] = _write(table, generated / f"{dataset}.parquet")
        certificate_path(files[dataset]).write_text(certificate.to_json(), encoding="utf-8")
    return files


def _bezirke(store: Store) -> pd.DataFrame:
    """Bezirke with their Stadtteil and area, from the verified store (weights of the generator)."""
    from bif_lib.api import load

    frame = load("statistische_bezirke", store=store)
    return pd.DataFrame({"bezirk_id": frame["bezirk_id"].astype(str), "district_id": frame["district_id"].astype(int),
                         "area_km2": frame.geometry.area / 1e6})
