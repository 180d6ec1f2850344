"""The DCAT-AP.de 3.0 validation profile: pinned SHACL shapes, fetched and verified like any
other pinned public source, and a pyshacl run with German results.

The profile is the one GovData's own validator runs for DCAT-AP.de 3.0
(GovDataOfficial/DCAT-AP.de-SHACL-Validation, configuration ``v30_de_spec``):

- the DCAT-AP 3.0.0 base shapes of SEMIC (``dcat-ap-SHACL.ttl``: mandatory properties,
  cardinalities, node kinds and classes),
- ``dcat-ap-SHACL-DE.ttl``: German messages and severities for those shapes, and the shapes
  DCAT-AP.de deactivates,
- ``dcat-ap-spec-german-additions.ttl``: what DCAT-AP.de adds (publisher, licence of every
  distribution, contact points, periods of time …),
- ``dcat-ap-de-deprecated.ttl``: warnings for properties and code lists DCAT-AP.de 3.0 deprecates,
- ``dcat-ap-de-controlledvocabularies.ttl``: the code lists every value must come from.

The code lists are remote (``owl:imports`` in ``dcat-ap-de-imports.ttl``); the ontology graph
is BIF's excerpt of them, ``vocabularies.ttl`` (see its header). Validation runs without
inference (``inference="none"``): the shapes need no entailment beyond the subclass axioms in
the excerpt, which SHACL's class semantics already follow. The excerpt is merged into a copy of
the data graph (pyshacl's ``ont_graph`` would copy only its RDFS/OWL axioms, not the code lists). A graph *conforms* when pyshacl
reports nothing at all — BIF's own output must be free of violations and of warnings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from bif_lib import config
from bif_lib.city.profile import SourceFile
from bif_lib.data.fetch import fetch_pinned

STANDARDS_FILE = Path(__file__).with_name("standards.yaml")
BUNDLED_DIR = Path(__file__).with_name("standards")
# the base shapes first: the German files annotate and deactivate its shapes
SHAPE_ORDER = ("dcat_ap", "dcat_ap_de")
SH = "http://www.w3.org/ns/shacl#"


class StandardsUnavailable(RuntimeError):
    """The pinned shapes could not be obtained or failed their checksum (German message)."""


@cache
def pinned() -> dict[str, dict[str, tuple[SourceFile, ...]]]:
    """standards.yaml: {standard: {"shapes"|"imports"|"examples": files}}."""
    raw = yaml.safe_load(STANDARDS_FILE.read_text(encoding="utf-8"))
    return {name: {part: tuple(SourceFile(**entry) for entry in files) for part, files in parts.items()}
            for name, parts in raw.items()}


def _all_files() -> list[SourceFile]:
    return [f for parts in pinned().values() for files in parts.values() for f in files]


def standards_dir() -> Path:
    return config.bif_home() / "standards"


def ensure_standards(progress: Callable[[str], None] | None = None) -> Path:
    """Every pinned standard file in ``$BIF_HOME/standards/``, verified; the directory."""
    destination = standards_dir()
    mirror = config.standards_mirror_dir()
    report = fetch_pinned(_all_files(), destination, [mirror, BUNDLED_DIR], progress)
    if not report.ok:
        where = f"Spiegel {mirror}" if mirror else "kein Spiegel (BIF_STANDARDS_MIRROR)"
        raise StandardsUnavailable(
            "Die DCAT-AP.de-Prüfregeln (SHACL) sind nicht verfügbar, ohne sie wird nichts veröffentlicht "
            f"({where}):\n  " + "\n  ".join(report.refused))
    return destination


def example_paths(progress: Callable[[str], None] | None = None) -> list[Path]:
    """The official DCAT-AP.de 3.0 example records (fetched and verified like the shapes)."""
    root = ensure_standards(progress)
    return [root / f.path for f in pinned()["dcat_ap_de"]["examples"]]


_lock = threading.Lock()


_PARSED: dict[tuple[str, ...], tuple] = {}


def _parsed(root: Path, digests: tuple[str, ...]):
    """(shapes graph, ontology graph), parsed once per process for one set of verified files
    (keyed by their checksums: the same files under another ``BIF_HOME`` are the same graphs)."""
    if digests not in _PARSED:
        _PARSED[digests] = _parse(root)
    return _PARSED[digests]


def _parse(root: Path):
    from rdflib import Graph

    from bif_lib.opendata.vocabularies import excerpt_text

    shapes = Graph()
    for standard in SHAPE_ORDER:
        for source in pinned()[standard]["shapes"]:
            shapes.parse(root / source.path, format="turtle")
    ontology = Graph()
    for source in pinned()["dcat_ap_de"].get("imports", ()):
        ontology.parse(root / source.path, format="turtle")
    ontology.parse(data=excerpt_text(), format="turtle")
    return shapes, ontology


def graphs(progress: Callable[[str], None] | None = None):
    """The shapes graph and the ontology graph of the profile (cached per process)."""
    root = ensure_standards(progress)
    digests = tuple(f.sha256 for f in _all_files())
    with _lock:
        return _parsed(root, digests)


SEVERITY_LABELS = {"Violation": "Verstoß", "Warning": "Warnung", "Info": "Hinweis"}


@dataclass(frozen=True)
class ShaclResult:
    severity: str        # Violation | Warning | Info
    message: str         # the shape's (mostly German) message
    focus: str
    path: str = ""
    value: str = ""
    shape: str = ""

    def to_text(self) -> str:
        where = f" ({_short(self.focus, 90)}" + (f", {_short(self.path, 60)}" if self.path else "") + ")"
        return f"{SEVERITY_LABELS.get(self.severity, self.severity)}: {_short(self.message, 220)}{where}"


@dataclass
class ShaclReport:
    results: list[ShaclResult] = field(default_factory=list)

    @property
    def conforms(self) -> bool:
        """Nothing reported: no violation and no warning."""
        return not self.results

    @property
    def violations(self) -> list[ShaclResult]:
        return [r for r in self.results if r.severity == "Violation"]

    def messages(self, severity: str | None = None) -> set[str]:
        return {r.message for r in self.results if severity is None or r.severity == severity}

    def to_text(self, limit: int = 8) -> str:
        """German summary: each distinct message once (with how often), at most ``limit`` lines."""
        counts: dict[tuple[str, str], list[ShaclResult]] = {}
        for result in self.results:
            counts.setdefault((result.severity, result.message), []).append(result)
        order = sorted(counts.items(), key=lambda item: (item[0][0] != "Violation", item[0][1]))
        lines = []
        for (severity, message), hits in order[:limit]:
            times = f" ({len(hits)}×)" if len(hits) > 1 else ""
            lines.append(f"- {hits[0].to_text()}{times}")
        if len(order) > limit:
            lines.append(f"- … und {len(order) - limit} weitere Meldung(en)")
        return "\n".join(lines)


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validate_graph(data_graph, progress: Callable[[str], None] | None = None) -> ShaclReport:
    """Validate an rdflib graph against the DCAT-AP.de 3.0 profile."""
    import pyshacl
    from rdflib import Graph, Namespace
    from rdflib.namespace import RDF

    shapes, ontology = graphs(progress)
    # pyshacl copies only RDFS/OWL axioms from an ontology graph; the code lists are plain
    # skos:inScheme statements, so the excerpt is merged into a copy of the data graph instead
    # (what GovData's validator does with the imported lists)
    merged = Graph()
    for triple in data_graph:
        merged.add(triple)
    for triple in ontology:
        merged.add(triple)
    _, results_graph, _ = pyshacl.validate(
        merged, shacl_graph=shapes, inference="none", abort_on_first=False, allow_infos=False,
        allow_warnings=False, meta_shacl=False, advanced=False, do_owl_imports=False, inplace=True)
    sh = Namespace(SH)
    results = []
    for node in results_graph.subjects(RDF.type, sh.ValidationResult):
        value = _values_of(results_graph, node)
        messages = list(results_graph.objects(node, sh.resultMessage))
        german = [m for m in messages if getattr(m, "language", None) == "de"]
        message = str((german or messages or [""])[0])
        results.append(ShaclResult(severity=value(sh.resultSeverity).rsplit("#", 1)[-1], message=message,
                                   focus=value(sh.focusNode), path=value(sh.resultPath), value=value(sh.value),
                                   shape=value(sh.sourceShape)))
    results.sort(key=lambda r: (r.severity, r.message, r.focus, r.path, r.value))
    return ShaclReport(results)


def _values_of(graph, node):
    def value(predicate) -> str:
        found = graph.value(node, predicate)
        return "" if found is None else str(found)
    return value
