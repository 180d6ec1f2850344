"""Which datasets are refreshed from their public source, and when.

A dataset is on a schedule when its contract has a ``refresh:`` block, or when the city profile
lists it under ``refresh.datasets`` (it then gets ``refresh.default``; its contract's own block
wins)::

    # data_contracts/<city>/city.yaml
    refresh:
      default: {cron: "0 5 * * 1"}      # Mondays 05:00, Europe/Berlin
      datasets: [kitas, schulen]

Only datasets with a public source may be refreshed by the scheduler: open or internal data whose
contract names a ``source.path`` that the city profile lists under ``sources``. Confidential data
(written only by the statistics office, through the audit service's gate), tables the office
releases (``release:``), datasets derived from others (``derived_from``) and the datasets BIF
generates itself (``generated:`` in city.yaml) are never refreshed here; a schedule on one of
them is refused with the reason (``Plan.refused``; ``bif contract check`` refuses the contract
already where the contract alone says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bif_lib.city.profile import CityProfile, SourceFile, load_profile
from bif_lib.contracts import Contract, ContractError
from bif_lib.data import generated
from bif_lib.data.order import ingest_order
from bif_lib.schedule.spec import Schedule, ScheduleError, parse_schedule, refusal

CONTRACT = "Vertrag"
PROFILE = "Stadtprofil"


class NotRefreshable(ValueError):
    """The dataset cannot be refreshed from a public source (German message)."""


@dataclass(frozen=True)
class Target:
    """A dataset that may be refreshed from its public source; ``schedule`` None: by hand only."""

    contract: Contract
    source: SourceFile
    schedule: Schedule | None = None
    origin: str = ""  # CONTRACT or PROFILE: where the schedule is written

    @property
    def dataset(self) -> str:
        return self.contract.id

    @property
    def title(self) -> str:
        return self.contract.title

    @property
    def classification(self) -> str:
        return self.contract.classification

    def recipients(self, settings) -> list[str]:
        """Who is mailed when a refresh fails: the contract's steward (``schedule.mail_stewards``),
        the schedule's ``notify`` and the settings' ``schedule.recipients``."""
        section = settings["schedule"]
        found = []
        if section["mail_stewards"]:
            found.append((self.contract.raw.get("steward") or {}).get("email"))
        found += list(self.schedule.notify if self.schedule else ())
        found += list(section["recipients"])
        return list(dict.fromkeys(a for a in found if a))


@dataclass
class Plan:
    profile: CityProfile
    targets: dict[str, Target] = field(default_factory=dict)  # in ingest order
    refused: dict[str, str] = field(default_factory=dict)     # scheduled but not refreshable -> reason

    @property
    def scheduled(self) -> list[Target]:
        return [t for t in self.targets.values() if t.schedule is not None]

    def target(self, dataset: str) -> Target:
        if dataset in self.targets:
            return self.targets[dataset]
        if dataset in self.refused:
            raise NotRefreshable(f"„{dataset}“ wird nicht aus einer öffentlichen Quelle aktualisiert: "
                                 f"{self.refused[dataset]}.")
        contracts = self.profile.contracts()
        if dataset not in contracts:
            raise NotRefreshable(f"Datensatz „{dataset}“ hat keinen Vertrag im Stadtprofil {self.profile.key} "
                                 f"({self.profile.directory}).")
        raise NotRefreshable(f"„{dataset}“ wird nicht aus einer öffentlichen Quelle aktualisiert: "
                             f"{_reason(contracts[dataset], self.profile, generated.contract_ids(self.profile))}.")

    def fingerprint(self) -> tuple:
        """What the scheduler's jobs depend on (it reloads when this changes)."""
        return tuple((t.dataset, repr(t.schedule.to_dict())) for t in self.scheduled)


def _reason(contract: Contract, profile: CityProfile, generated_ids: set[str]) -> str | None:
    reason = refusal(contract.raw)
    if reason:
        return reason
    if contract.id in generated_ids:
        return "BIF erzeugt diesen Datensatz selbst (generated: in city.yaml, bif data bootstrap)"
    path = contract.source["path"]
    if not any(s.path == path for s in profile.sources):
        return f"die Quelldatei {path} steht nicht unter „sources“ in {profile.directory / 'city.yaml'}"
    return None


def _profile_refresh(profile: CityProfile, contracts: dict[str, Contract]) -> tuple[Schedule | None, set[str]]:
    """The city profile's ``refresh:`` section: (default schedule, datasets on it)."""
    section = profile.settings.get("refresh")
    city_file = profile.directory / "city.yaml"
    if section is None:
        return None, set()
    if not isinstance(section, dict) or set(section) - {"default", "datasets"}:
        raise ContractError(city_file, [("refresh", None, "erwartet wird {default: {cron: …}, datasets: [...]}")])
    listed = section.get("datasets") or []
    if not isinstance(listed, list) or not all(isinstance(d, str) for d in listed):
        raise ContractError(city_file, [("refresh.datasets", None, "erwartet wird eine Liste von Datensatz-IDs")])
    unknown = [d for d in listed if d not in contracts]
    if unknown:
        raise ContractError(city_file, [("refresh.datasets", None, f"kein Vertrag für: {', '.join(unknown)}")])
    if listed and section.get("default") is None:
        raise ContractError(city_file, [("refresh.default", None, "Zeitplan für die aufgeführten Datensätze fehlt, "
                                                                  "z. B. {cron: \"0 5 * * 1\"}")])
    try:
        default = parse_schedule(section["default"], "refresh.default") if section.get("default") else None
    except ScheduleError as exc:
        raise ContractError(city_file, [(exc.key, None, exc.message)]) from None
    return default, set(listed)


def load_plan(city: str | None = None, profile: CityProfile | None = None) -> Plan:
    """The plan of a city profile (``BIF_CITY`` by default). Raises ``ContractError`` (German,
    naming the file and key) for a malformed contract or ``refresh:`` section."""
    profile = profile or load_profile(city)
    contracts = profile.contracts()
    default, listed = _profile_refresh(profile, contracts)
    generated_ids = generated.contract_ids(profile)
    sources = {s.path: s for s in profile.sources}
    plan = Plan(profile)
    for dataset in ingest_order(contracts):
        contract = contracts[dataset]
        own = contract.raw.get("refresh")
        reason = _reason(contract, profile, generated_ids)
        if reason:
            if own is not None or dataset in listed:
                plan.refused[dataset] = reason
            continue
        if own is not None:
            schedule, origin = parse_schedule(own, "refresh"), CONTRACT  # checked when the contract loaded
        elif dataset in listed:
            schedule, origin = default, PROFILE
        else:
            schedule, origin = None, ""
        plan.targets[dataset] = Target(contract, sources[contract.source["path"]], schedule, origin)
    return plan


__all__ = ["CONTRACT", "PROFILE", "NotRefreshable", "Plan", "Target", "load_plan"]
