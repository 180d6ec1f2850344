"""``bif opendata release``: datasets from the verified store into the open data site.

For each dataset: decide whether it may leave (``policy``), read its newest version from the
store (checksums verified), check a protected table against its certificate, map the
contract's metadata (licence, themes, period, contact), write its Data Package and validate
it with frictionless. Then the whole site's DCAT-AP.de graph is built, validated with the
pinned SHACL shapes, serialised, and the new site replaces the old one in one step
(``site.swap_into_place``). Any failure leaves the previous site exactly as it was.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from bif_lib import config
from bif_lib.contracts import ContractError
from bif_lib.i18n import reference_date
from bif_lib.opendata import dcat, package, shapes, site
from bif_lib.opendata import vocabularies as vocab
from bif_lib.opendata.policy import METHOD_LABELS, Decision, OpenDataRefused, decide, verify_content
from bif_lib.store import Store

SYNTHETIC_NOTE = ("SYNTHETISCHE DATEN: von BIF erzeugt und auf veröffentlichte Summen kalibriert; sie beschreiben "
                  "keine wirklichen Personen.")


class ReleaseFailed(RuntimeError):
    """The release was not made; the site is unchanged (German message)."""


@dataclass
class ReleaseResult:
    output: Path
    base_url: str
    released: dict[str, int] = field(default_factory=dict)     # dataset -> version (new or replaced)
    unchanged: dict[str, int] = field(default_factory=dict)    # the same version was already published
    replaced: dict[str, int] = field(default_factory=dict)     # dataset -> the version it replaced
    warnings: list[str] = field(default_factory=list)          # German
    datasets_in_site: int = 0

    def summary(self) -> str:
        lines = []
        for dataset, version in self.released.items():
            before = f" (ersetzt Version {self.replaced[dataset]})" if dataset in self.replaced else ""
            lines.append(f"veröffentlicht: {dataset} Version {version}{before}")
        for dataset, version in self.unchanged.items():
            lines.append(f"unverändert: {dataset} Version {version} ist schon veröffentlicht")
        lines += [f"WARNUNG: {w}" for w in self.warnings]
        lines.append(f"Open-Data-Ordner {self.output}: {self.datasets_in_site} Datensatz/Datensätze; Katalogseite "
                     f"index.html, DCAT-AP.de catalog.ttl und catalog.jsonld; Basis-URL {self.base_url}")
        return "\n".join(lines)


def default_output() -> Path:
    return config.opendata_dir()


def release(datasets: list[str] | str, *, output: Path | str | None = None, base_url: str | None = None,
            store: Store | None = None, city: str | None = None,
            progress: Callable[[str], None] | None = None) -> ReleaseResult:
    """Publish the newest version of each dataset into the site at ``output`` (all or none)."""
    from bif_lib.city.profile import load_profile
    from bif_lib.ingest import default_store

    say = progress or (lambda message: None)
    datasets = [datasets] if isinstance(datasets, str) else list(dict.fromkeys(datasets))
    if not datasets:
        raise ReleaseFailed("Kein Datensatz angegeben.")
    store = store or default_store()
    profile = load_profile(city)
    city_info = _city_of(profile)
    target = _target(output, store)

    with site.locked(target):
        previous = _open_site(target, store, city_info)
        url = _base_url(base_url, previous, profile)
        decisions = [decide(store, d, _current_contract(profile, d)) for d in datasets]  # all refusals first
        for decision in decisions:
            try:
                vocab.licence_of(decision.entry.contract)
            except vocab.LicenceError as error:
                raise OpenDataRefused(f"„{decision.entry.dataset_id}“: {error}") from None
        _check_published(previous, store, profile, skip=set(datasets))
        result = ReleaseResult(target, url)
        if previous is not None and previous.get("base_url") not in (None, url):
            result.warnings.append(f"Basis-URL geändert: {previous['base_url']} → {url}; alle Download-Adressen im "
                                   f"Katalog ändern sich.")
        manifest = site.empty_manifest(city_info, url) if previous is None else dict(previous)
        manifest = {**manifest, "city": city_info, "base_url": url, "datasets": dict(manifest["datasets"])}
        todo = []
        for decision in decisions:
            entry = decision.entry
            known = manifest["datasets"].get(entry.dataset_id)
            if known and known["version"] == entry.version and known["store_sha256"] == entry.sha256:
                result.unchanged[entry.dataset_id] = entry.version
            else:
                todo.append(decision)
        if not todo and previous is not None and previous.get("base_url") == url and previous.get("city") == city_info:
            result.datasets_in_site = len(manifest["datasets"])
            return result

        now = _now()

        def build(staging: Path) -> None:
            for decision in todo:
                entry = decision.entry
                say(f"{entry.dataset_id}: lese Version {entry.version} aus dem Datenspeicher …")
                frame = store.read(entry)
                verify_content(decision, frame)
                known = manifest["datasets"].get(entry.dataset_id)
                record, meta, warnings = _record(decision, frame, profile, city_info, now, known)
                result.warnings.extend(warnings)
                folder = staging / site.DATASETS / entry.dataset_id
                say(f"{entry.dataset_id}: schreibe CSV, Parquet{', GeoJSON' if record['geo'] else ''} und "
                    f"datapackage.json …")
                record["files"] = package.write_package(folder, frame, entry.contract, meta)
                say(f"{entry.dataset_id}: prüfe das Data Package (frictionless) …")
                problems = package.validate_package(folder, expected_rows=entry.rows)
                if problems:
                    raise package.PackageInvalid(problems)
                if known:
                    result.replaced[entry.dataset_id] = known["version"]
                manifest["datasets"][entry.dataset_id] = record
                result.released[entry.dataset_id] = entry.version

        _rebuild(target, manifest, {d.entry.dataset_id for d in todo}, build, now, say)
        result.datasets_in_site = len(manifest["datasets"])
        return result


def withdraw(datasets: list[str] | str, *, output: Path | str | None = None, store: Store | None = None,
             city: str | None = None, progress: Callable[[str], None] | None = None) -> list[str]:
    """Take datasets out of the site (their files, their catalog entries), in one step like a
    release; returns the datasets that were withdrawn. Always allowed: it only reduces what is public."""
    from bif_lib.city.profile import load_profile
    from bif_lib.ingest import default_store
    from bif_lib.opendata.policy import check_name

    say = progress or (lambda message: None)
    datasets = [check_name(d) for d in ([datasets] if isinstance(datasets, str) else dict.fromkeys(datasets))]
    store = store or default_store()
    city_info = _city_of(load_profile(city))
    target = _target(output, store)
    with site.locked(target):
        previous = _open_site(target, store, city_info, check_files=False)
        if previous is None:
            raise ReleaseFailed(f"{target} ist kein Open-Data-Ordner von BIF; es gibt nichts zurückzuziehen.")
        missing = [d for d in datasets if d not in previous["datasets"]]
        if missing:
            raise ReleaseFailed(f"Nicht veröffentlicht: {', '.join(missing)}. Nichts wurde zurückgezogen.")
        manifest = {**previous, "datasets": {k: v for k, v in previous["datasets"].items() if k not in datasets}}
        damaged = site.file_problems(target, manifest)
        if damaged:
            raise ReleaseFailed("Der Open-Data-Ordner wurde nach der letzten Veröffentlichung verändert; bitte die "
                                "Dateien wiederherstellen oder die betroffenen Datensätze mit zurückziehen:\n  "
                                + "\n  ".join(damaged))
        _rebuild(target, manifest, set(), lambda staging: None, _now(), say)
    return datasets


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _target(output: Path | str | None, store: Store) -> Path:
    """The site folder, checked (``site.check_output``) and outside the store: nothing of a
    release, not even its lock file, may land among the store's areas."""
    target = site.check_output(Path(output) if output else default_output())
    root = Path(os.path.abspath(store.root))
    if target == root or root in target.parents or target in root.parents:
        raise site.SiteError(f"{target} liegt im Datenspeicher {root} oder enthält ihn: der Open-Data-Ordner "
                             f"muss außerhalb des Datenspeichers liegen.")
    return target


def _open_site(target: Path, store: Store, city_info: dict, *, check_files: bool = True) -> dict | None:
    """Under the site's lock: the folder checked again, leftovers removed, the manifest (None
    for a new site) with every published file verified."""
    _target(target, store)
    site.remove_leftovers(target)
    previous = site.read_manifest(target)
    if previous is None:
        return None
    if (previous.get("city") or {}).get("key") != city_info["key"]:
        raise site.SiteError(f"{target} ist der Open-Data-Ordner von „{(previous.get('city') or {}).get('name')}“, "
                             f"nicht von {city_info['name']}: bitte einen eigenen Ordner je Stadtprofil angeben.")
    if check_files:
        damaged = site.file_problems(target, previous)
        if damaged:
            raise ReleaseFailed("Der Open-Data-Ordner wurde nach der letzten Veröffentlichung verändert; es wird "
                                "nichts veröffentlicht, der Ordner bleibt unverändert:\n  " + "\n  ".join(damaged))
    return previous


def _check_published(previous: dict | None, store: Store, profile, skip: set[str]) -> None:
    """Every dataset already in the site must still be allowed to leave: a dataset reclassified
    since its release is not carried along silently — it has to be withdrawn first."""
    for dataset, record in sorted(((previous or {}).get("datasets") or {}).items()):
        if dataset in skip:
            continue
        try:
            decide(store, dataset, _current_contract(profile, dataset))
        except OpenDataRefused as refusal:
            raise ReleaseFailed(f"„{dataset}“ ist veröffentlicht (Version {record['version']}), darf nach dem "
                                f"Datenspeicher aber nicht mehr veröffentlicht werden: {refusal} Bitte zuerst "
                                f"zurückziehen: bif opendata withdraw {dataset}") from None


def _rebuild(target: Path, manifest: dict, fresh: set[str], build: Callable[[Path], None], now: str, say) -> None:
    """The new site beside the old one: the unchanged datasets copied (verified), the fresh ones
    built by ``build``, the catalog generated and validated; then swapped into place."""
    say("Lade die DCAT-AP.de-Prüfregeln (SHACL) …")
    shapes.graphs(say)  # fails before anything is written if the shapes are unavailable
    staging = site.new_staging(target)
    try:
        (staging / site.DATASETS).mkdir(mode=0o755)
        for dataset_id, record in manifest["datasets"].items():
            if dataset_id not in fresh:
                site.copy_dataset(target, staging, record)
        build(staging)
        manifest["updated_at"] = now
        say("Erzeuge die DCAT-AP.de-Metadaten und prüfe sie (SHACL) …")
        turtle, jsonld = _checked_catalog(manifest)
        site.write_site_files(staging, manifest, turtle, jsonld)
        site.swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _checked_catalog(manifest: dict) -> tuple[bytes, bytes]:
    """Turtle and JSON-LD of the site's DCAT-AP.de graph, after SHACL validation and a round trip."""
    graph = dcat.catalog_graph(manifest)
    report = shapes.validate_graph(graph)
    if not report.conforms:
        raise ReleaseFailed("Die DCAT-AP.de-Metadaten bestehen die Prüfung gegen die SHACL-Regeln von DCAT-AP.de 3.0 "
                            "nicht; es wird nichts veröffentlicht:\n" + report.to_text())
    turtle, jsonld = dcat.to_turtle(graph), dcat.to_jsonld(graph)
    if not (set(dcat.from_turtle(turtle)) == set(graph) == set(dcat.from_jsonld(jsonld))):  # no blank nodes
        raise ReleaseFailed("Turtle und JSON-LD geben nicht denselben Graphen wieder; es wird nichts veröffentlicht.")
    return turtle, jsonld


# --- metadata ------------------------------------------------------------------------------------

def _city_of(profile) -> dict:
    settings = profile.settings
    ags = str(settings.get("ags") or "")
    vocab.municipality_uri(ags)  # refuses a malformed AGS
    return {"key": profile.key, "name": profile.name, "official_name": settings.get("official_name") or profile.name,
            "ags": ags}


def _base_url(given: str | None, previous: dict | None, profile) -> str:
    candidate = given or (previous or {}).get("base_url") or ((profile.settings.get("opendata") or {}).get("base_url"))
    if not candidate:
        raise ReleaseFailed(
            "Keine Basis-URL: unter welcher Adresse wird der Open-Data-Ordner veröffentlicht? Die DCAT-Metadaten "
            "brauchen sie für die Download-Adressen. Bitte --base-url https://… angeben oder im Stadtprofil "
            "opendata: {base_url: …} eintragen (danach merkt sich der Ordner die Adresse).")
    return site.normal_base_url(candidate)


def _current_contract(profile, dataset: str) -> dict | None:
    path = profile.directory / f"{dataset}.yaml"
    if not path.is_file():
        return None
    from bif_lib.contracts import load_contract

    try:
        contract = load_contract(path)
    except ContractError as error:
        raise OpenDataRefused(f"„{dataset}“: der aktuelle Datenvertrag {path} ist fehlerhaft; ohne gültigen Vertrag "
                              f"wird nichts veröffentlicht.\n{error}") from None
    return contract.raw if contract.id == dataset else None


def _record(decision: Decision, frame, profile, city: dict, now: str,
            known: dict | None) -> tuple[dict, dict, list[str]]:
    """The published metadata of one dataset (manifest record), the Data Package metadata and warnings."""
    entry = decision.entry
    contract = entry.contract
    options = contract.get("opendata") or {}
    warnings = []
    try:
        licence = vocab.licence_of(contract)
    except vocab.LicenceError as error:
        raise OpenDataRefused(f"„{entry.dataset_id}“: {error}") from None
    stated = contract.get("licence") or {}
    note = f"{stated.get('note') or ''} {stated.get('name') or ''}"
    if re.search(r"ungeprüft|unklar|klärung", note, re.IGNORECASE) and not options.get("licence"):
        warnings.append(f"{entry.dataset_id}: der Datenvertrag nennt die Lizenz ungeprüft (licence.note); "
                        f"veröffentlicht unter {licence.label}. Bitte die Lizenz klären und mit opendata.licence "
                        f"bestätigen.")
    title, description = contract["title"], contract["description"].strip()
    keywords = [str(k) for k in options.get("keywords") or []]
    keywords = list(dict.fromkeys([*keywords, profile.name]))
    if entry.synthetic or contract.get("synthetic"):
        if "synthetisch" not in title.casefold():
            title = f"{title} (synthetisch)"
        description = f"{SYNTHETIC_NOTE} {description}"
        keywords.append("synthetisch")
    protection = None
    if decision.protected:
        method = METHOD_LABELS.get(decision.certificate.method, decision.certificate.method)
        protection = {"method": method, "released_at": decision.certificate.released_at}
        description = (f"{description} Von der Statistikstelle mit statistischer Geheimhaltung freigegeben "
                       f"({method}).")
    email = options.get("contact_email") or (contract.get("steward") or {}).get("email")
    if not email:
        raise OpenDataRefused(f"„{entry.dataset_id}“: keine Kontaktadresse (steward.email oder "
                              f"opendata.contact_email im Datenvertrag).")
    if re.search(r"\.(example|invalid|test)$|\.example\.|@example\.", email.lower()):
        warnings.append(f"{entry.dataset_id}: die Kontaktadresse {email} ist ein Platzhalter; bitte im Datenvertrag "
                        f"(steward.email oder opendata.contact_email) das echte Funktionspostfach eintragen.")
    coverage = contract.get("temporal_coverage") or {}
    fields = [{"name": f["name"], "title": f.get("title", ""), "unit": f.get("unit", "")}
              for f in contract["schema"]["fields"] if f["name"] in frame.columns]
    record = {
        "dataset": entry.dataset_id,
        "version": entry.version,
        "store_sha256": entry.sha256,
        "rows": entry.rows,
        "classification": entry.classification,
        "synthetic": bool(entry.synthetic or contract.get("synthetic")),
        "title": title,
        "description": description,
        "keywords": keywords,
        "themes": list(options.get("themes") or vocab.DEFAULT_THEMES),
        "contact": {"name": contract.get("owner") or city["official_name"], "email": email},
        "temporal": temporal_of(coverage),
        "reference_date": reference_date(coverage),
        "frequency": vocab.frequency_code(contract.get("cadence")),
        "spatial_unit": contract.get("spatial_unit") or "",
        "licence": {"key": licence.key, "uri": licence.uri, "label": licence.label, "url": licence.url,
                    "attribution": (contract.get("licence") or {}).get("attribution") or ""},
        "protection": protection,
        "geo": any(f["type"] == "geometry" for f in contract["schema"]["fields"]),
        "fields": fields,
        "modified": entry.ingested_at,
        "issued": (known or {}).get("issued") or now,
        "released_at": now,
        "files": [],
    }
    meta = {"dataset": entry.dataset_id, "id": f"urn:bif:{city['key']}:{entry.dataset_id}", "title": title,
            "description": description, "version": entry.version, "created": entry.ingested_at,
            "keywords": keywords, "licence": licence,
            "attribution": record["licence"]["attribution"], "publisher": city["official_name"],
            "owner": record["contact"]["name"], "source": contract.get("source_system")}
    return record, meta, warnings


_SCHOOL_YEAR = re.compile(r"^(\d{4})/(\d{2})$")


def temporal_of(coverage: dict) -> dict:
    """Start and end date (ISO) of the contract's ``temporal_coverage``: years become their first
    and last day, a school year "2022/23" its calendar years; without start and end, an ISO
    reference date ("2024-01-17 (…)") is both. Unreadable values are left out."""
    start = _day(coverage.get("start"), first=True)
    end = _day(coverage.get("end"), first=False)
    if start is None and end is None:
        match = re.match(r"^\s*(\d{4}-\d{2}-\d{2})", str(coverage.get("reference_date") or ""))
        if match and _iso(match.group(1)):
            start = end = match.group(1)
    return {k: v for k, v in (("start", start), ("end", end)) if v}


def _day(value, *, first: bool) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d{4}", text):
        return f"{text}-01-01" if first else f"{text}-12-31"
    if match := _SCHOOL_YEAR.fullmatch(text):
        year = int(match.group(1)) if first else int(match.group(1)[:2] + match.group(2))
        return f"{year}-01-01" if first else f"{year}-12-31"
    return text if _iso(text) else None


def _iso(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


# --- checking a published site -------------------------------------------------------------------

def validate_site(output: Path | str | None = None, progress: Callable[[str], None] | None = None) -> list[str]:
    """Everything wrong with a published site (German; empty: valid). Reads only.

    Checks the manifest, every file's size and sha256, every Data Package with frictionless,
    that catalog.ttl and catalog.jsonld are the graph the manifest describes and conform to
    DCAT-AP.de 3.0 (SHACL), and that index.html is the page the manifest describes.
    """
    from rdflib.compare import isomorphic

    say = progress or (lambda message: None)
    target = Path(os.path.abspath(output or default_output()))
    if target.is_symlink() or not target.is_dir():
        return [f"{target} ist kein Ordner."]
    manifest = site.read_manifest(target)
    if manifest is None:
        return [f"{target} ist kein Open-Data-Ordner von BIF ({site.MANIFEST} fehlt)."]
    problems = site.file_problems(target, manifest)
    for dataset, record in sorted(manifest["datasets"].items()):
        say(f"{dataset}: prüfe das Data Package (frictionless) …")
        problems += [f"{dataset}: {p}" for p in package.validate_package(target / site.DATASETS / dataset,
                                                                          expected_rows=record["rows"])]
    say("Prüfe die DCAT-AP.de-Metadaten (SHACL) …")
    expected = dcat.catalog_graph(manifest)
    graphs = {}
    for name, parse in (("catalog.ttl", dcat.from_turtle), ("catalog.jsonld", dcat.from_jsonld)):
        try:
            graphs[name] = parse((target / name).read_bytes())
        except Exception as exc:  # noqa: BLE001 - any parser error is a finding
            problems.append(f"{name} ist nicht lesbar: {str(exc)[:200]}")
            continue
        if not isomorphic(graphs[name], expected):
            problems.append(f"{name} beschreibt nicht, was das Manifest {site.MANIFEST} verzeichnet (verändert?)")
    if "catalog.ttl" in graphs:
        report = shapes.validate_graph(graphs["catalog.ttl"])
        if not report.conforms:
            problems.append("catalog.ttl besteht die SHACL-Prüfung von DCAT-AP.de 3.0 nicht:\n" + report.to_text())
    try:
        page = (target / "index.html").read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        problems.append(f"index.html ist nicht lesbar: {exc}")
    else:
        if page != site.catalog_page(manifest):
            problems.append("index.html weicht von der Katalogseite ab, die das Manifest beschreibt (verändert?)")
    return problems


def site_status(output: Path | str | None = None) -> dict | None:
    """The manifest of the site at ``output`` (None if there is none yet)."""
    target = Path(os.path.abspath(output or default_output()))
    if not target.is_dir() or target.is_symlink():
        return None
    return site.read_manifest(target)


def releasable(store: Store | None = None, city: str | None = None) -> list[dict]:
    """Every dataset of the store with whether it may be published and, if not, why (German)."""
    from bif_lib.city.profile import load_profile
    from bif_lib.ingest import default_store

    store = store or default_store()
    profile = load_profile(city)
    rows = []
    for entry in sorted(store.catalog.latest_versions(), key=lambda e: e.dataset_id):
        row = {"dataset": entry.dataset_id, "version": entry.version, "classification": entry.classification,
               "title": entry.title, "releasable": True, "reason": ""}
        try:
            decision = decide(store, entry.dataset_id, _current_contract(profile, entry.dataset_id))
            vocab.licence_of(entry.contract)
            if decision.protected:
                row["reason"] = "Freigabe der Statistikstelle mit Zertifikat und Zustimmung im Vertrag"
        except (OpenDataRefused, vocab.LicenceError) as refusal:
            row.update(releasable=False, reason=str(refusal))
        rows.append(row)
    return rows
