"""DCAT-AP.de 3.0 metadata of an open data site, as an rdflib graph, Turtle and JSON-LD.

The graph is built from the site's manifest (``site.py``): one ``dcat:Catalog`` for the site,
one ``dcat:Dataset`` per released dataset with one ``dcat:Distribution`` per file. Every
IRI is a fragment of the Turtle file, which describes it: ``<base>catalog.ttl#katalog``,
``#<dataset>``, ``#<dataset>-csv`` …, also for the contact point, the period and the checksums
(``#<dataset>-kontakt``, ``#<dataset>-zeitraum``, ``#<dataset>-csv-pruefsumme``): the graph has no
blank nodes, so its Turtle and JSON-LD forms compare triple for triple. The landing page of a
dataset is its entry on the catalog page (``<base>index.html#<dataset>``).

Political geocoding: DCAT-AP.de 3.0 deprecates ``dcatde:politicalGeocodingURI``
(``dcat-ap-de-deprecated.ttl`` warns on it); following convention 11 the municipality's
geocoding URI (``…/politicalGeocoding/municipalityKey/<AGS>``) is the value of ``dct:spatial``,
with ``dcatde:politicalGeocodingLevelURI`` ``…/Level/municipality``.
"""

from __future__ import annotations

from datetime import UTC

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD

from bif_lib.i18n import local_time
from bif_lib.opendata import vocabularies as vocab

DCATDE = Namespace("http://dcat-ap.de/def/dcatde/")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
DCAT_VERSION = URIRef(str(DCAT) + "version")  # DCAT 3 (rdflib's DCAT namespace is DCAT 2)
DATAPACKAGE_STANDARD = "https://datapackage.org/standard/data-package/"

PREFIXES = {"dcat": DCAT, "dct": DCTERMS, "dcatde": DCATDE, "foaf": FOAF, "vcard": VCARD, "spdx": SPDX,
            "adms": ADMS, "skos": SKOS, "xsd": XSD}
JSONLD_CONTEXT = {prefix: str(namespace) for prefix, namespace in PREFIXES.items()}


def iri(base: str, fragment: str) -> URIRef:
    return URIRef(f"{base}catalog.ttl#{fragment}")


def file_url(base: str, dataset: str, name: str) -> URIRef:
    return URIRef(f"{base}datasets/{dataset}/{name}")


def catalog_graph(site: dict) -> Graph:
    """The DCAT-AP.de graph of a site manifest (``site.Manifest.to_dict()``)."""
    base = site["base_url"]
    city = site["city"]
    graph = Graph(bind_namespaces="none")
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace)

    publisher = iri(base, "herausgeber")
    graph.add((publisher, RDF.type, FOAF.Agent))
    graph.add((publisher, FOAF.name, Literal(city["official_name"], lang="de")))
    graph.add((publisher, DCTERMS.type, URIRef(vocab.PUBLISHER_LOCAL_AUTHORITY)))

    spatial = URIRef(vocab.municipality_uri(city["ags"]))
    graph.add((spatial, RDF.type, DCTERMS.Location))
    graph.add((spatial, SKOS.prefLabel, Literal(city["name"], lang="de")))

    catalog = iri(base, "katalog")
    graph.add((catalog, RDF.type, DCAT.Catalog))
    graph.add((catalog, DCTERMS.title, Literal(f"Offene Daten – {city['official_name']}", lang="de")))
    graph.add((catalog, DCTERMS.description, Literal(
        f"Offene Daten der {city['official_name']} aus der geprüften Datenbasis BIF: je Datensatz eine CSV- und "
        f"eine Parquet-Datei (Geodaten zusätzlich GeoJSON) mit Data-Package-Beschreibung und Prüfsummen.",
        lang="de")))
    graph.add((catalog, DCTERMS.publisher, publisher))
    graph.add((catalog, DCTERMS.language, URIRef(vocab.LANGUAGE_GERMAN)))
    graph.add((catalog, DCTERMS.spatial, spatial))
    graph.add((catalog, FOAF.homepage, URIRef(f"{base}index.html")))
    if site.get("updated_at"):
        graph.add((catalog, DCTERMS.modified, _datetime(site["updated_at"])))

    for dataset_id in sorted(site["datasets"]):
        record = site["datasets"][dataset_id]
        dataset = _add_dataset(graph, base, record, publisher, spatial)
        graph.add((catalog, DCAT.dataset, dataset))
    return graph


def _add_dataset(graph: Graph, base: str, record: dict, publisher: URIRef, spatial: URIRef) -> URIRef:
    dataset_id = record["dataset"]
    dataset = iri(base, dataset_id)
    add = graph.add
    add((dataset, RDF.type, DCAT.Dataset))
    add((dataset, DCTERMS.identifier, Literal(dataset_id)))
    add((dataset, DCTERMS.title, Literal(record["title"], lang="de")))
    add((dataset, DCTERMS.description, Literal(record["description"], lang="de")))
    for keyword in record["keywords"]:
        add((dataset, DCAT.keyword, Literal(keyword, lang="de")))
    for theme in record["themes"]:
        add((dataset, DCAT.theme, URIRef(vocab.theme_uri(theme))))
    add((dataset, DCTERMS.publisher, publisher))

    contact = iri(base, f"{dataset_id}-kontakt")
    add((dataset, DCAT.contactPoint, contact))
    add((contact, RDF.type, VCARD.Organization))
    add((contact, VCARD.fn, Literal(record["contact"]["name"], lang="de")))
    add((contact, VCARD.hasEmail, URIRef(f"mailto:{record['contact']['email']}")))

    add((dataset, DCTERMS.spatial, spatial))
    add((dataset, DCATDE.politicalGeocodingLevelURI, URIRef(vocab.LEVEL_MUNICIPALITY)))
    temporal = record.get("temporal") or {}
    if temporal.get("start") or temporal.get("end"):
        period = iri(base, f"{dataset_id}-zeitraum")
        add((dataset, DCTERMS.temporal, period))
        add((period, RDF.type, DCTERMS.PeriodOfTime))
        if temporal.get("start"):
            add((period, DCAT.startDate, Literal(temporal["start"], datatype=XSD.date)))
        if temporal.get("end"):
            add((period, DCAT.endDate, Literal(temporal["end"], datatype=XSD.date)))
    add((dataset, DCTERMS.accrualPeriodicity, URIRef(vocab.frequency_uri(record["frequency"]))))
    add((dataset, DCTERMS.accessRights, URIRef(vocab.ACCESS_PUBLIC)))
    add((dataset, DCTERMS.language, URIRef(vocab.LANGUAGE_GERMAN)))
    add((dataset, DCTERMS.issued, _datetime(record["issued"])))
    add((dataset, DCTERMS.modified, _datetime(record["modified"])))
    add((dataset, DCAT_VERSION, Literal(str(record["version"]))))
    add((dataset, DCAT.landingPage, URIRef(f"{base}index.html#{dataset_id}")))

    licence = URIRef(record["licence"]["uri"])
    for item in record["files"]:
        kind = vocab.FILE_TYPES[item["kind"]]
        distribution = iri(base, f"{dataset_id}-{item['kind']}")
        add((dataset, DCAT.distribution, distribution))
        add((distribution, RDF.type, DCAT.Distribution))
        add((distribution, DCTERMS.title, Literal(f"{record['title']} – {kind.label}", lang="de")))
        url = file_url(base, dataset_id, item["name"])
        add((distribution, DCAT.accessURL, url))
        add((distribution, DCAT.downloadURL, url))
        add((distribution, DCAT.mediaType, URIRef(kind.media_type_uri)))
        add((distribution, DCTERMS.format, URIRef(kind.format_uri)))
        if item["kind"] == "datapackage":
            add((distribution, DCTERMS.conformsTo, URIRef(DATAPACKAGE_STANDARD)))
        add((distribution, DCTERMS.license, licence))
        if record["licence"].get("attribution"):
            add((distribution, DCATDE.licenseAttributionByText, Literal(record["licence"]["attribution"], lang="de")))
        add((distribution, DCAT.byteSize, Literal(item["bytes"], datatype=XSD.nonNegativeInteger)))
        checksum = iri(base, f"{dataset_id}-{item['kind']}-pruefsumme")
        add((distribution, SPDX.checksum, checksum))
        add((checksum, RDF.type, SPDX.Checksum))
        add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
        add((checksum, SPDX.checksumValue, Literal(item["sha256"], datatype=XSD.hexBinary)))
        add((distribution, ADMS.status, URIRef(vocab.STATUS_COMPLETED)))
        add((distribution, DCTERMS.issued, _datetime(record["issued"])))
        add((distribution, DCTERMS.modified, _datetime(record["modified"])))
    return dataset


def _datetime(text: str) -> Literal:
    """An ISO 8601 instant as xsd:dateTime in UTC with "Z"."""
    moment = local_time(text).astimezone(UTC)
    return Literal(moment.strftime("%Y-%m-%dT%H:%M:%SZ"), datatype=XSD.dateTime)


def to_turtle(graph: Graph) -> bytes:
    return graph.serialize(format="turtle", encoding="utf-8")


def to_jsonld(graph: Graph) -> bytes:
    return graph.serialize(format="json-ld", context=JSONLD_CONTEXT, indent=2, encoding="utf-8")


def from_jsonld(data: bytes | str) -> Graph:
    import warnings

    with warnings.catch_warnings():  # rdflib's own JSON-LD parser uses its deprecated ConjunctiveGraph
        warnings.simplefilter("ignore", DeprecationWarning)
        return Graph().parse(data=data, format="json-ld")


def from_turtle(data: bytes | str) -> Graph:
    return Graph().parse(data=data, format="turtle")
