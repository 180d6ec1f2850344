"""The metadata every test contract needs (owner, steward, licence …), in one place for all test
folders; each folder adds its own id, title and schema."""

METADATA = {
    "version": "1.0",
    "owner": "Fachbereich Test",
    "steward": {"name": "Erika Mustermann", "email": "erika@example.org"},
    "source_system": "Testsystem",
    "classification": "open",
    "licence": {"name": "CC0-1.0", "attribution": "Stadt Testhausen"},
    "cadence": "yearly",
    "spatial_unit": "Stadtteil",
    "temporal_coverage": {"start": 2020, "end": 2022},
}
