"""``bif data bootstrap``: fetch (or mirror), verify and ingest a city's whole data basis.

Steps: fetch every pinned source file (refusing the whole run if any checksum fails,
so nothing is ingested from a corrupted mirror), ingest every contract in dependency
order, then generate and ingest the datasets BIF makes itself (synthetic register
microdata, life table). Idempotent: a second run finds every dataset unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bif_lib import config, releases
from bif_lib.data import generated
from bif_lib.data.fetch import FetchReport, fetch_sources
from bif_lib.data.order import ingest_order
from bif_lib.data.profile import CityProfile, load_profile
from bif_lib.i18n import format_number
from bif_lib.ingest import IngestOutcome, default_store, ingest
from bif_lib.store import Store


class BootstrapError(RuntimeError):
    pass


@dataclass
class BootstrapResult:
    city: str
    fetch: FetchReport
    outcomes: dict[str, IngestOutcome] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)   # dataset -> German reason

    @property
    def ok(self) -> bool:
        return self.fetch.ok and all(o.ok for o in self.outcomes.values())

    def summary(self) -> str:
        status_labels = {"created": "neu", "unchanged": "unverändert", "rejected": "ABGELEHNT"}
        lines = [f"Datenbasis {self.city}:",
                 f"  {'Datensatz':<42} {'Status':<12} {'Version':>7} {'Zeilen':>9} {'Warnungen':>9}"]
        for dataset, outcome in self.outcomes.items():
            entry = outcome.entry
            lines.append(f"  {dataset:<42} {status_labels[outcome.status]:<12} "
                         f"{entry.version if entry else '–':>7} "
                         f"{format_number(entry.rows) if entry else '–':>9} "
                         f"{outcome.report.warnings:>9}")
        for dataset, reason in self.skipped.items():
            lines.append(f"  {dataset:<42} {'ausgelassen':<12} – {reason}")
        created = sum(o.status == "created" for o in self.outcomes.values())
        unchanged = sum(o.status == "unchanged" for o in self.outcomes.values())
        warnings = sum(o.report.warnings for o in self.outcomes.values())
        lines.append(f"  {len(self.outcomes)} Datensätze: {created} neu, {unchanged} unverändert, "
                     f"{warnings} Warnung(en); Quelldateien: {len(self.fetch.fetched)} geholt, "
                     f"{len(self.fetch.unchanged)} unverändert.")
        return "\n".join(lines)


def bootstrap(city: str | None = None, *, mirror: str | Path | None = None, store: Store | None = None,
              include_confidential: bool = True, progress: Callable[[str], None] | None = None) -> BootstrapResult:
    say = progress or (lambda message: None)
    profile = load_profile(city)
    store = store or default_store()
    mirror = mirror if mirror is not None else config.mirror_dir()
    destination = profile.source_dir()

    say(f"Hole {len(profile.sources)} Quelldateien für {profile.name}"
        + (f" aus dem Spiegel {mirror}" if mirror else " von den öffentlichen Quellen"))
    fetched = fetch_sources(profile, destination, mirror, say)
    result = BootstrapResult(profile.name, fetched)
    if not fetched.ok:
        raise BootstrapError("Quelldateien abgelehnt – es wurde nichts eingespielt:\n  "
                             + "\n  ".join(fetched.refused))

    contracts = profile.contracts()
    generated_ids = generated.contract_ids(profile)
    released_ids = [d for d in ingest_order(contracts) if contracts[d].raw.get("release")]
    order = [d for d in ingest_order(contracts) if d not in generated_ids and d not in released_ids]
    for number, dataset in enumerate(order, 1):
        contract = contracts[dataset]
        say(f"[{number}/{len(order)}] {dataset}")
        outcome = ingest(contract, destination / contract.source["path"], store=store)
        result.outcomes[dataset] = outcome
        if not outcome.ok:
            raise BootstrapError(f"{dataset} wurde abgelehnt:\n{outcome.report.to_text()}")

    for dataset, path_or_reason in generated.build(profile, store, destination, contracts,
                                                   include_confidential=include_confidential,
                                                   progress=say).items():
        if isinstance(path_or_reason, str):
            result.skipped[dataset] = path_or_reason
            continue
        say(f"Spiele {dataset} ein")
        certificate = generated.certificate_path(path_or_reason)
        outcome = ingest(contracts[dataset], path_or_reason, store=store,
                         certificate=certificate if certificate.exists() else None)
        result.outcomes[dataset] = outcome
        if not outcome.ok:
            raise BootstrapError(f"{dataset} wurde abgelehnt:\n{outcome.report.to_text()}")

    # what the statistics office releases from confidential microdata (bif release)
    for dataset in released_ids:
        source = contracts[dataset].raw["release"]["source"]
        if store.catalog.latest(source) is None:
            result.skipped[dataset] = (f"ausgelassen: „{source}“ ist nicht im Speicher (ohne getrennte Benutzerkonten "
                                       "hält BIF keine vertraulichen Daten und keine daraus abgeleiteten Freigaben)")
            continue
        say(f"Statistikstelle: Freigabe von {dataset}")
        outcome, _ = releases.release(contracts[dataset], store=store, progress=say,
                                      purpose="Ersteinrichtung: Freigabe der Aggregate für die Planung")
        result.outcomes[dataset] = outcome
        if not outcome.ok:
            raise BootstrapError(f"{dataset} wurde abgelehnt:\n{outcome.report.to_text()}")
    return result


__all__ = ["BootstrapError", "BootstrapResult", "CityProfile", "bootstrap"]
