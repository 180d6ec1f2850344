"""Open data release (``bif opendata``, docs/opendata.md): verified datasets out of the store as
Frictionless Data Packages with DCAT-AP.de 3.0 metadata, in a static folder with a German
catalog page.

- ``policy``: what may leave (open data; certified internal tables with the contract's opt-in;
  confidential never)
- ``vocabularies``: licences, EU themes, frequencies, file and media types
- ``package``: CSV, Parquet, GeoJSON and ``datapackage.json``, validated with frictionless
- ``dcat``: the DCAT-AP.de graph (rdflib), Turtle and JSON-LD
- ``shapes``: the pinned DCAT-AP.de SHACL shapes and their validation (pyshacl)
- ``site``: the folder, its manifest, the atomic swap and the catalog page
- ``release``: ``release``, ``withdraw``, ``validate_site``, ``releasable``

The submodules are imported where they are used: rdflib, frictionless and pyshacl load only
for a release.
"""
