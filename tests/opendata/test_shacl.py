"""The DCAT-AP.de 3.0 validation profile (bif_lib/opendata/shapes.py):

1. the official examples validate with it — apart from the defects they carry themselves,
   each listed here, asserted exactly, and gone after the documented repair;
2. BIF's output for real Flensburg datasets conforms (no violation, no warning);
3. a broken graph does not conform, so the validation can fail — and a release whose metadata
   do not conform is refused with the shapes' German messages and leaves the site unchanged;
4. the shapes are pinned: a changed file in the mirror is refused.
"""

from __future__ import annotations

import shutil

import pytest
from opendata_helpers import BASE_URL, tree_digests
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF

from bif_lib.opendata import dcat, release, shapes

DCT = "http://purl.org/dc/terms/"
ADMS_STATUS = URIRef("http://www.w3.org/ns/adms#status")
LOCN_GEOMETRY = URIRef("http://www.w3.org/ns/locn#geometry")
PUBLISHER_MISSING = "DE: dcat:DataService: MUSS einen dcterms:publisher haben."  # (sic: the shape targets datasets)
LICENCE_MISSING = "DE: dcat:Distribution: MUSS eine dcterms:license haben."
AGENT_NOT_IRI = "DE: prov:Attribution: prov:agent MUSS eine IRI sein."
ADMS_STATUS_LIST = ("dcat:Distribution: adms:status MUSS folgendes Vokabular benutzen: "
                    "https://www.dcat-ap.de/def/dcatde/3.0/spec/#kv-distribution-status")
GEOMETRY_LITERAL = "dct:Location: locn:geometry MUSS auf eine Blank Node oder eine IRI verweisen."

# The official examples' own defects against the official shapes (GovData's validator reports
# the same): minimally modelled datasets without publisher and distributions without licence,
# a blank-node prov:agent, the deprecated ADMS status list, and a WKT literal as locn:geometry,
# which the DCAT-AP 3.0.0 base shapes require to be a node.
KNOWN_DEFECTS = {
    "DataService.ttl": {PUBLISHER_MISSING, LICENCE_MISSING, AGENT_NOT_IRI},
    "Dataset-und-Distribution.ttl": {ADMS_STATUS_LIST, GEOMETRY_LITERAL},
    "DatasetSeries.ttl": {PUBLISHER_MISSING, GEOMETRY_LITERAL},
}
# DataService.ttl is not even valid Turtle upstream: its skos prefix line lacks the final ".".
SKOS_PREFIX = "@prefix skos:    <http://www.w3.org/2004/02/skos/core#>          #"


def _example(name: str) -> tuple[Graph, str]:
    path = next(p for p in shapes.example_paths() if p.name == name)
    text = path.read_text(encoding="utf-8")
    if name == "DataService.ttl":
        with pytest.raises(Exception, match="Bad syntax"):
            Graph().parse(data=text, format="turtle")
        assert text.count(SKOS_PREFIX) == 1
        text = text.replace(SKOS_PREFIX, SKOS_PREFIX.replace("> ", "> .", 1))
    return Graph().parse(data=text, format="turtle"), text


@pytest.mark.parametrize("name", sorted(KNOWN_DEFECTS))
def test_the_official_examples_show_only_their_own_defects(name):
    graph, _ = _example(name)
    report = shapes.validate_graph(graph)
    assert report.messages("Violation") == KNOWN_DEFECTS[name], report.to_text(30)


def _repaired(graph: Graph) -> Graph:
    """The documented repairs: a publisher for every dataset, a licence for every distribution,
    an IRI for the attributed agent, the EU distribution status, a WKT bounding box instead of a
    literal locn:geometry."""
    dcat_ns = "http://www.w3.org/ns/dcat#"
    publisher = next(iter(graph.objects(None, URIRef(DCT + "publisher"))))
    for kind in ("Dataset", "DatasetSeries"):
        for node in graph.subjects(RDF.type, URIRef(dcat_ns + kind)):
            if graph.value(node, URIRef(DCT + "publisher")) is None:
                graph.add((node, URIRef(DCT + "publisher"), publisher))
    for node in graph.subjects(RDF.type, URIRef(dcat_ns + "Distribution")):
        if graph.value(node, URIRef(DCT + "license")) is None:
            graph.add((node, URIRef(DCT + "license"), URIRef("http://dcat-ap.de/def/licenses/officialWork")))
    prov_agent = URIRef("http://www.w3.org/ns/prov#agent")
    for attribution, agent in list(graph.subject_objects(prov_agent)):
        if isinstance(agent, BNode):
            graph.set((attribution, prov_agent, URIRef("http://itzbienenland.bienenland.example.org/#itz")))
    for node, status in list(graph.subject_objects(ADMS_STATUS)):
        graph.set((node, ADMS_STATUS, URIRef("http://publications.europa.eu/resource/authority/distribution-status/"
                                             "COMPLETED")))
    for node, wkt in list(graph.subject_objects(LOCN_GEOMETRY)):
        graph.remove((node, LOCN_GEOMETRY, wkt))
        graph.add((node, URIRef(dcat_ns + "bbox"), wkt))
    return graph


@pytest.mark.parametrize("name", sorted(KNOWN_DEFECTS))
def test_the_official_examples_conform_after_the_documented_repairs(name):
    graph, _ = _example(name)
    report = shapes.validate_graph(_repaired(graph))
    assert report.violations == [], report.to_text(30)


def _site_manifest(store, datasets, tmp_path) -> dict:
    import json

    out = tmp_path / "site"
    release.release(datasets, output=out, base_url=BASE_URL, store=store)
    return json.loads((out / "bif-opendata.json").read_text(encoding="utf-8"))


def test_bif_output_for_flensburg_datasets_conforms_strictly(store, tmp_path):
    datasets = ["einwohner_stadtteile", "kitas", "stadtteile", "schulen", "geburten_stadtteile", "haushaltstypen"]
    manifest = _site_manifest(store, datasets, tmp_path)
    graph = dcat.catalog_graph(manifest)
    report = shapes.validate_graph(graph)
    assert report.conforms, report.to_text(30)   # not even a warning
    # and so does what was written, read back from Turtle and from JSON-LD
    site = tmp_path / "site"
    assert shapes.validate_graph(dcat.from_turtle((site / "catalog.ttl").read_bytes())).conforms
    assert shapes.validate_graph(dcat.from_jsonld((site / "catalog.jsonld").read_bytes())).conforms


@pytest.fixture
def small_graph(store, tmp_path):
    manifest = _site_manifest(store, ["einwohner_stadtteile"], tmp_path)
    return dcat.catalog_graph(manifest)


def test_a_dataset_without_title_does_not_conform(small_graph):
    small_graph.remove((URIRef(f"{BASE_URL}catalog.ttl#einwohner_stadtteile"), URIRef(DCT + "title"), None))
    report = shapes.validate_graph(small_graph)
    assert not report.conforms
    assert "dcat:Dataset: dcterms:title MUSS MINDESTEN einmal vorkommen." in report.messages("Violation")


def test_a_licence_outside_the_dcat_ap_de_list_does_not_conform(small_graph):
    distribution = URIRef(f"{BASE_URL}catalog.ttl#einwohner_stadtteile-csv")
    small_graph.set((distribution, URIRef(DCT + "license"), URIRef("https://creativecommons.org/licenses/by/4.0/")))
    report = shapes.validate_graph(small_graph)
    assert not report.conforms
    assert any("dcterms:license SOLL folgendes Vokabular benutzen" in m for m in report.messages("Warning"))
    small_graph.remove((distribution, URIRef(DCT + "license"), None))
    assert LICENCE_MISSING in shapes.validate_graph(small_graph).messages("Violation")


def test_other_broken_values_do_not_conform(small_graph):
    dataset = URIRef(f"{BASE_URL}catalog.ttl#einwohner_stadtteile")
    small_graph.add((dataset, URIRef("http://www.w3.org/ns/dcat#theme"), URIRef("http://example.org/thema/Soziales")))
    small_graph.add((dataset, URIRef("http://dcat-ap.de/def/dcatde/politicalGeocodingURI"), Literal("01001000")))
    messages = shapes.validate_graph(small_graph).messages()
    assert any("dcat:theme MUSS folgendes Vokabular benutzen" in m for m in messages)
    assert "Deprecated: dcatde:politicalGeocodingURI soll nicht mehr verwendet werden." in messages


def test_a_release_whose_metadata_do_not_conform_is_refused(store, out, monkeypatch):
    release.release("einwohner_stadtteile", output=out, base_url=BASE_URL, store=store)
    before = tree_digests(out)
    original = dcat.catalog_graph

    def without_titles(manifest):
        graph = original(manifest)
        graph.remove((None, URIRef(DCT + "title"), None))
        return graph

    monkeypatch.setattr(dcat, "catalog_graph", without_titles)
    with pytest.raises(release.ReleaseFailed) as failed:
        release.release("kitas", output=out, store=store)
    message = str(failed.value)
    assert "SHACL-Regeln von DCAT-AP.de 3.0 nicht" in message
    assert "dcterms:title MUSS MINDESTEN einmal vorkommen" in message and len(message) < 3000
    assert tree_digests(out) == before


def test_the_shapes_are_pinned_and_parsed_once(tmp_path, monkeypatch, standards_mirror):
    first = shapes.graphs()
    assert shapes.graphs() is first  # parsed once per process
    shapes_graph, ontology = first
    assert len(shapes_graph) > 3000 and len(ontology) > 80
    mirror = tmp_path / "mirror"
    shutil.copytree(standards_mirror, mirror)
    target = mirror / "dcat-ap-de-3.0" / "shacl" / "dcat-ap-spec-german-additions.ttl"
    target.chmod(0o644)
    target.write_text(target.read_text(encoding="utf-8").replace("sh:minCount 1", "sh:minCount 0"),
                      encoding="utf-8")
    monkeypatch.setenv("BIF_STANDARDS_MIRROR", str(mirror))
    monkeypatch.setenv("BIF_HOME", str(tmp_path / "frisch"))
    with pytest.raises(shapes.StandardsUnavailable, match="Prüfsumme von dcat-ap-de-3.0/shacl/"
                                                          "dcat-ap-spec-german-additions.ttl stimmt nicht"):
        shapes.ensure_standards()


def test_without_a_mirror_the_bundled_base_shapes_still_verify(tmp_path, monkeypatch):
    """The DCAT-AP 3.0.0 base shapes travel with BIF; the bundled copy is checked like a mirror's."""
    monkeypatch.setenv("BIF_STANDARDS_MIRROR", str(tmp_path / "leer"))
    monkeypatch.setenv("BIF_HOME", str(tmp_path / "frisch"))
    from bif_lib.data import fetch

    def offline(url):
        raise fetch.requests.ConnectionError(f"offline: {url}")

    monkeypatch.setattr(fetch, "_download", offline)
    with pytest.raises(shapes.StandardsUnavailable) as missing:
        shapes.ensure_standards()
    text = str(missing.value)
    assert "dcat-ap-de-3.0/shacl/dcat-ap-SHACL-DE.ttl konnte nicht geholt werden" in text
    assert "dcat-ap-3.0.0" not in text  # the bundled copy was found and verified
    assert (tmp_path / "frisch" / "standards" / "dcat-ap-3.0.0" / "shacl" / "dcat-ap-SHACL.ttl").is_file()
