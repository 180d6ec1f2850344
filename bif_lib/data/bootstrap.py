"""``bif data bootstrap``: fetch (or mirror), verify and ingest a city's whole data basis.

Steps: fetch every pinned source file (refusing the whole run if any checksum fails,
so nothing is ingested from a corrupted mirror), check every source file against its
contract before anything is written (a rejected file stops the run with nothing ingested:
all or nothing), ingest every contract in dependency order, then generate and ingest the
datasets BIF makes itself (synthetic register microdata, life table). Idempotent: a
second run finds every dataset unchanged.

The store keeps every version it accepted (snapshots are immutable; there is no removing
a written version). What is rejected only after writing has begun — a generated or released
dataset, which is made from the datasets just written — therefore cannot be rolled back:
the error then names exactly the datasets and versions this run left in the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bif_lib import config, releases
from bif_lib.city.profile import CityProfile, load_profile
from bif_lib.data import generated
from bif_lib.data.fetch import FetchReport, fetch_sources
from bif_lib.data.order import ingest_order
from bif_lib.i18n import format_number
from bif_lib.ingest import IngestOutcome, default_store, ingest, store_references
from bif_lib.readers import read_source
from bif_lib.store import Store
from bif_lib.validation import compile_contract, referenced_datasets
from bif_lib.validation.report import ValidationReport


class BootstrapError(RuntimeError):
    """The bootstrap stopped. ``left`` lists the (dataset, version) pairs this run wrote into the
    store before it stopped (empty: nothing was written)."""

    def __init__(self, message: str, left: list[tuple[str, int]] | None = None):
        self.left = list(left or [])
        super().__init__(message + "\n" + _left_text(self.left))


def _left_text(left: list[tuple[str, int]]) -> str:
    if not left:
        return "Es wurde nichts in den Datenspeicher geschrieben."
    listed = "\n".join(f"  - {dataset}, Version {version}" for dataset, version in left)
    return (f"In diesem Lauf wurden bereits {len(left)} Datensatz-Version(en) in den Datenspeicher geschrieben; "
            f"sie bleiben dort (Versionen im Speicher sind unveränderlich und werden nicht gelöscht):\n{listed}\n"
            f"Frühere Versionen dieser Datensätze bleiben abrufbar. Nach der Korrektur setzt ein erneuter "
            f"„bif data bootstrap“ fort (unveränderte Datensätze bleiben unverändert).")


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


CITY_MARKER = "STADTPROFIL"


def check_store_city(store: Store, profile: CityProfile) -> None:
    """One store holds one city: its datasets share names across profiles (a second city's
    ``stadtteile`` would become a new version of the first's). The first bootstrap writes the
    profile's key beside the store (``claim_store``); another city's bootstrap into it is refused."""
    try:
        owner = (store.root / CITY_MARKER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return
    if owner != profile.key:
        raise BootstrapError(f"Der Datenspeicher {store.root} gehört zum Stadtprofil „{owner}“, nicht zu "
                             f"„{profile.key}“ – für jede Stadt ein eigenes BIF_HOME verwenden "
                             f"(docs/city-profiles.md). Es wurde nichts eingespielt.")


def claim_store(store: Store, profile: CityProfile) -> None:
    marker = store.root / CITY_MARKER
    if not marker.exists():
        store.root.mkdir(parents=True, exist_ok=True)
        marker.write_text(profile.key + "\n", encoding="utf-8")
        marker.chmod(0o644)


def bootstrap(city: str | None = None, *, mirror: str | Path | None = None, store: Store | None = None,
              include_confidential: bool = True, progress: Callable[[str], None] | None = None) -> BootstrapResult:
    say = progress or (lambda message: None)
    profile = load_profile(city)
    store = store or default_store()
    mirror = mirror if mirror is not None else config.mirror_dir()
    destination = profile.source_dir()
    check_store_city(store, profile)

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
    # a department's own file (no public source, not under sources: in city.yaml, e.g. the school
    # office's capacities): ingested if it lies in the city's data directory, else left out with a note
    listed = {source.path for source in profile.sources}
    for dataset in [d for d in order if contracts[d].source["path"] not in listed]:
        if not (destination / contracts[dataset].source["path"]).is_file():
            order.remove(dataset)
            result.skipped[dataset] = (f"keine öffentliche Quelle (nicht unter „sources“ in city.yaml): die "
                                       f"Fachabteilung spielt {contracts[dataset].source['path']} selbst ein – "
                                       f"bif ingest {contracts[dataset].path} DATEI")
    rejected = check_sources(contracts, order, destination, store, say)
    if rejected:
        raise BootstrapError("Quelldateien entsprechen nicht ihrem Vertrag – der Lauf wurde vor dem Einspielen "
                             f"abgebrochen ({len(rejected)} abgelehnt: {', '.join(rejected)}):\n\n"
                             + "\n\n".join(report.to_text() for report in rejected.values()))
    claim_store(store, profile)
    left: list[tuple[str, int]] = []  # (dataset, version) written by this run

    def written(dataset: str, outcome: IngestOutcome) -> None:
        result.outcomes[dataset] = outcome
        if outcome.status == "created" and outcome.entry is not None:
            left.append((dataset, outcome.entry.version))
        if not outcome.ok:
            raise BootstrapError(f"{dataset} wurde abgelehnt:\n{outcome.report.to_text()}", left)

    for number, dataset in enumerate(order, 1):
        contract = contracts[dataset]
        say(f"[{number}/{len(order)}] {dataset}")
        written(dataset, ingest(contract, destination / contract.source["path"], store=store))

    for dataset, path_or_reason in generated.build(profile, store, destination, contracts,
                                                   include_confidential=include_confidential,
                                                   progress=say).items():
        if isinstance(path_or_reason, str):
            result.skipped[dataset] = path_or_reason
            continue
        say(f"Spiele {dataset} ein")
        certificate = generated.certificate_path(path_or_reason)
        written(dataset, ingest(contracts[dataset], path_or_reason, store=store,
                                certificate=certificate if certificate.exists() else None))

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
        written(dataset, outcome)
    return result


def check_sources(contracts: dict, order: list[str], destination: Path, store: Store,
                  say: Callable[[str], None] = lambda message: None) -> dict[str, ValidationReport]:
    """Validate every source file against its contract without writing anything, in ingest order; a
    dataset checked here that another one references (foreign key, totals, boundaries) is resolved
    against that file's typed rows (as the ingest will find them in the store), others against the
    store. Returns the reports of the rejected files."""
    referenced = {ref for d in order for ref in referenced_datasets(contracts[d])}
    checked: dict = {}
    in_store = store_references(store)

    def references(dataset: str):
        return checked[dataset] if dataset in checked else in_store(dataset)

    rejected: dict[str, ValidationReport] = {}
    say(f"Prüfe {len(order)} Quelldateien gegen ihre Verträge, bevor etwas eingespielt wird")
    for dataset in order:
        contract = contracts[dataset]
        path = destination / contract.source["path"]
        read = read_source(contract, path)
        report = ValidationReport(contract.id, str(path), contract.version)
        report.notes.extend(read.notes)
        for failure in read.failures:
            report.add(failure)
        typed = None
        if read.readable:
            text, read.frame = read.frame, None
            typed, report = compile_contract(contract, references).validate(text, source_file=str(path),
                                                                             report=report, consume=True)
        if typed is None or not report.ok:
            rejected[dataset] = report
        elif dataset in referenced:
            checked[dataset] = typed
    return rejected


__all__ = ["BootstrapError", "BootstrapResult", "CityProfile", "bootstrap"]
