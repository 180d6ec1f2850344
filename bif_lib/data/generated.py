"""Datasets BIF generates itself, named in city.yaml's ``generated`` section.

- ``life_table``: the model life table of the city's state the projection uses
  (bif_lib.planning.lifetable), calibrated to the life expectancies ``targets`` of the section;
  written to ``generated/<contract>.parquet``.
- ``synthetic_register`` (optional): seeded synthetic resident-register microdata calibrated to
  the published totals the section declares under ``totals`` – verified store datasets,
  bif_lib.synthetic.totals – (confidential, labelled synthetic; bif_lib.synthetic), and what
  the statistics office releases from it for planning: population by single age and the
  projection parameters (internal; bif_lib.planning.release). A profile without the section
  generates no register; totals that are missing or do not fit skip it with a German reason.

Each generator writes a Parquet file under ``<sources>/generated/`` that is then ingested
through its contract like any department file. Output is deterministic, so a rerun is
recognised as unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from bif_lib.city.profile import CityProfile
from bif_lib.contracts import Contract
from bif_lib.store import Store


def contract_ids(profile: CityProfile) -> set[str]:
    spec = profile.generated
    ids = set()
    register = spec.get("synthetic_register")
    if register:
        ids |= {register.get("persons_contract"), register.get("events_contract")}
        ids |= {(register.get("release") or {}).get("parameters_contract")}
    if spec.get("life_table"):
        ids.add(spec["life_table"].get("contract"))
    ids.discard(None)
    return ids


def build(profile: CityProfile, store: Store, destination: Path, contracts: dict[str, Contract], *,
          include_confidential: bool, progress: Callable[[str], None]) -> dict[str, Path | str]:
    """Generate the files; returns dataset -> file to ingest, or a German reason for skipping it."""
    spec = profile.generated
    out: dict[str, Path | str] = {}
    if spec.get("life_table"):
        progress("Erzeuge Sterbetafel (Modell)")
        out[spec["life_table"]["contract"]] = _life_table(spec["life_table"], destination)
    register = spec.get("synthetic_register")
    if register:
        ids = sorted(contract_ids(profile) - {spec.get("life_table", {}).get("contract")})
        if not include_confidential:
            for dataset in ids:
                out[dataset] = ("ausgelassen: ohne getrennte Benutzerkonten hält BIF keine vertraulichen Daten "
                                "(und keine daraus abgeleiteten Freigaben)")
        else:
            progress("Erzeuge synthetische Melderegister-Mikrodaten")
            out.update(_synthetic_register(profile, register, ids, store, destination, progress))
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


def _life_table(spec: dict, destination: Path) -> Path:
    """The model life table, calibrated to the section's ``targets``: per sex (m, w) the life
    expectancy at birth ``e0`` and at 65 ``e65``, infant death probability ``q0``, Makeham term
    ``makeham`` and ``source``; a text names a target set of bif_lib.planning.lifetable. ``name``
    labels the targets in the table's metadata."""
    from bif_lib.planning.lifetable import LifeExpectancyTarget, life_table

    targets = spec.get("targets")
    if isinstance(targets, dict):
        targets = {sex: LifeExpectancyTarget(**{"e65": None, "source": f"city.yaml: generated.life_table ({sex})",
                                                "approximate": True, **values})
                   for sex, values in targets.items()}
    table = life_table(targets) if targets else life_table()
    if spec.get("name"):
        table.attrs["bif"]["lifetable"]["targets"] = str(spec["name"])
    return _write(table, destination / "generated" / f"{spec['contract']}.parquet")


def _synthetic_register(profile: CityProfile, spec: dict, ids: list[str], store: Store, destination: Path,
                        progress: Callable[[str], None]) -> dict[str, Path | str]:
    from bif_lib.loaders import release_parameters_checked
    from bif_lib.synthetic import TotalsError, generate_register, totals_from_profile

    missing = [key for key in ("persons_contract", "events_contract", "seed", "first_year", "last_year")
               if spec.get(key) is None]
    if missing:
        reason = f"ausgelassen: city.yaml generated.synthetic_register nennt {', '.join(missing)} nicht"
        progress(reason)
        return {dataset: reason for dataset in ids}
    try:
        totals = totals_from_profile(profile, store)
        register = generate_register(totals, seed=spec["seed"],
                                     years=range(spec["first_year"], spec["last_year"] + 1))
    except TotalsError as error:
        reason = f"ausgelassen: {error}"
        progress(reason)
        return {dataset: reason for dataset in ids}
    generated = destination / "generated"
    files: dict[str, Path | str] = {
        spec["persons_contract"]: _write(register.persons, generated / f"{spec['persons_contract']}.parquet"),
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
