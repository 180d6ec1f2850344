"""The certificate and the canonical content digest the store recomputes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from disclosure_data import register

from bif_lib.disclosure import Certificate, content_digest, protect


@pytest.fixture
def frame():
    return pd.DataFrame({
        "district_id": pd.array([1, 1, 2, None], dtype="Int64"),
        "sex": pd.array(["m", "w", "m", None], dtype="str"),
        "anzahl": pd.array([10, None, 7, 19], dtype="Int64"),
        "geheimhaltung": pd.array(["", "primär", "", ""], dtype="str"),
    })


def test_digest_ignores_order_and_equivalent_dtypes(frame):
    digest = content_digest(frame)
    assert content_digest(frame[["geheimhaltung", "anzahl", "sex", "district_id"]]) == digest
    assert content_digest(frame.iloc[[3, 1, 0, 2]]) == digest
    assert content_digest(frame.iloc[[3, 1, 0, 2]].reset_index(drop=True)) == digest
    variants = frame.copy()
    variants["district_id"] = variants["district_id"].astype("float64")  # 1.0, NaN
    variants["anzahl"] = variants["anzahl"].astype("Float64")
    variants["sex"] = pd.Categorical(frame["sex"].to_numpy(dtype=object, na_value=None))
    variants["geheimhaltung"] = frame["geheimhaltung"].astype(object)
    assert content_digest(variants) == digest
    as_object = frame.astype(object).where(frame.notna(), None)
    assert content_digest(as_object) == digest
    assert content_digest(frame.astype({"anzahl": "Int32"})) == digest


def test_digest_sees_every_change_of_value(frame):
    digest = content_digest(frame)
    changed = frame.copy()
    changed.loc[0, "anzahl"] = 11
    assert content_digest(changed) != digest
    for column, value in [("anzahl", 0), ("sex", "m "), ("geheimhaltung", "sekundär")]:
        other = frame.copy()
        other.loc[1, column] = value
        assert content_digest(other) != digest, column
    assert content_digest(frame.assign(anzahl=frame["anzahl"].astype(str))) != digest  # "10" is not 10
    assert content_digest(pd.concat([frame, frame.iloc[[0]]])) != digest  # duplicated row
    assert content_digest(frame.rename(columns={"anzahl": "fälle"})) != digest
    assert content_digest(frame.drop(columns="geheimhaltung")) != digest
    floats = frame.assign(anzahl=pd.array([10.5, None, 7, 19], dtype="Float64"))
    assert content_digest(floats) != digest
    assert content_digest(pd.DataFrame({"x": [True, False]})) != content_digest(pd.DataFrame({"x": [1, 0]}))
    # separators inside text cannot fake another row split
    a = pd.DataFrame({"a": ["x|s1:y"], "b": ["z"]})
    b = pd.DataFrame({"a": ["x"], "b": ["y|s1:z"]})
    assert content_digest(a) != content_digest(b)


def test_certificate_round_trip_and_matches():
    persons = register(5_000, seed=3)
    persons.attrs["bif"] = {"dataset": "melderegister_personen", "version": 4, "sha256": "ab" * 32,
                            "synthetic": True}
    table, certificate = protect(persons, ["district_id", "sex"], record_keys="record_key", margins=True,
                                 unperturbed=[[]], released_by="statistikstelle", dataset="einwohner_geschlecht")
    assert certificate.matches(table)
    assert certificate.sources == [{"dataset": "melderegister_personen", "version": 4, "sha256": "ab" * 32}]
    assert certificate.synthetic and table.attrs["bif"]["synthetic"]
    assert certificate.released_at.endswith("+00:00")
    again = Certificate.from_json(certificate.to_json())
    assert again == certificate and Certificate.from_dict(certificate.to_dict()) == certificate
    assert json.loads(certificate.to_json())["ptable_version"] == certificate.ptable_version
    tampered = table.copy()
    tampered.loc[0, "anzahl"] += 1
    assert not certificate.matches(tampered)
    # the store recomputes the digest on what it read back from a file
    assert certificate.matches(pd.read_csv(pd.io.common.StringIO(table.to_csv(index=False))))


def test_text_for_the_office_is_german():
    persons = register(20_000, seed=9)
    persons.attrs["bif"] = {"synthetic": True}
    table, certificate = protect(persons, ["district_id", "age"], record_keys="record_key",
                                 released_by="statistikstelle")
    text = certificate.to_text()
    assert text.startswith("Geheimhaltungsnachweis (synthetisch)")
    assert "Cell-Key-Methode" in text and "D = 5, V = 3, js = 2" in text
    assert f"Zellen: {len(table):,}".replace(",", ".") in text
    assert "Keine Werte 1 bis 2: bestanden" in text and "Freigegeben von: statistikstelle" in text
    unlabelled = persons.copy()
    unlabelled.attrs = {}
    _, suppression = protect(unlabelled, ["district_id", "agegroup"], "suppression", released_by="x")
    text = suppression.to_text()
    assert "Zellsperrung" in text and "Mindestfallzahl: 3; Schutzbereich: 30 % des Zellwerts" in text
    assert "synthetisch" not in text


def test_failing_checks_are_visible():
    certificate = Certificate(dataset=None, method="cellkey", parameters={}, released_by="x",
                              released_at="2026-01-01T00:00:00+00:00", content_sha256="0" * 64,
                              checks=[{"id": "a", "name": "Nullen unverändert", "passed": False, "detail": "1 Zelle"}])
    assert not certificate.passed and "NICHT BESTANDEN" in certificate.to_text()


def test_digest_of_float_values_is_exact():
    a = pd.DataFrame({"x": [0.1 + 0.2]})
    b = pd.DataFrame({"x": [0.3]})
    assert content_digest(a) != content_digest(b)
    assert content_digest(pd.DataFrame({"x": [np.float64(2.0)]})) == content_digest(pd.DataFrame({"x": [2]}))
