"""Every reader option of a contract's ``source`` section, on files as departments send them."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from bif_lib.readers import read_source

FIELDS = [("year", "year"), ("district_id", "integer"), ("name", "string"), ("residents", "integer")]


def rows_of(report, rule):
    return sorted(f.row for f in report.failures() if f.rule == rule)


# --- CSV: delimiter, quoting, encoding ----------------------------------------------

@pytest.mark.parametrize("delimiter", [";", ",", "\t"])
def test_delimiters(check, make_contract, delimiter):
    text = delimiter.join(["year", "district_id", "name", "residents"]) + "\n"
    text += delimiter.join(["2022", "1", "Altstadt", "3907"]) + "\n"
    text += delimiter.join(["2022", "2", "Neustadt", "5052"]) + "\n"
    frame, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": delimiter}), text)
    assert report.ok, report.to_text()
    assert frame["residents"].tolist() == [3907, 5052]
    assert frame["name"].tolist() == ["Altstadt", "Neustadt"]
    assert str(frame["residents"].dtype) == "Int64"


def test_wrong_delimiter_is_refused(check, make_contract):
    text = "year;district_id;name;residents\n2022;1;Altstadt;3907\n"
    _, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ","}), text)
    assert not report.ok
    failures = report.failures()
    # named as such, with the delimiter the file really uses
    assert [(f.rule, f.row) for f in failures] == [("delimiter", 1)], report.to_text()
    assert "„;“" in failures[0].message and "„,“" in failures[0].message


def test_quotechar_and_delimiter_inside_quotes(check, make_contract):
    text = "year;district_id;name;residents\n2022;1;'Altstadt; Innenstadt';3907\n"
    frame, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";", "quotechar": "'"}), text)
    assert report.ok, report.to_text()
    assert frame["name"].tolist() == ["Altstadt; Innenstadt"]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["ohne BOM", "mit BOM"])
def test_utf8_with_and_without_bom(check, make_contract, bom):
    content = bom + "year;district_id;name;residents\n2022;9;Jürgensby;9000\n".encode("utf-8")
    frame, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";", "encoding": "utf-8"}), content)
    assert report.ok, report.to_text()  # with a BOM left in, "year" would be "\ufeffyear"
    assert frame["year"].tolist() == [2022]
    assert frame["name"].tolist() == ["Jürgensby"]


def test_windows_1252(check, make_contract):
    content = "year;district_id;name;residents\n2022;4;Westliche Höhe;8000\n2022;9;Jürgensby;9000\n".encode("cp1252")
    frame, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";", "encoding": "windows-1252"}),
                          content)
    assert report.ok, report.to_text()
    assert frame["name"].tolist() == ["Westliche Höhe", "Jürgensby"]


def test_windows_1252_file_declared_utf8_is_refused_with_line(check, make_contract):
    content = "year;district_id;name;residents\n2022;1;Altstadt;1\n2022;9;Jürgensby;9000\n".encode("cp1252")
    frame, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";"}), content)
    assert frame is None and not report.ok
    [failure] = report.failures()
    assert failure.rule == "encoding" and failure.row == 3
    assert "utf-8" in failure.message and failure.value.startswith("fc")


# --- numbers and dates ---------------------------------------------------------------

def test_decimal_comma_and_thousands_dot(check, make_contract):
    fields = [("district_id", "integer"), ("residents", "integer"), ("share", "number")]
    text = ("district_id;residents;share\n"
            "1;3.907;12,5\n"
            "2;12.345.678;-0,25\n"
            "3;999;1.234,75\n"
            "4;1.5;7\n"          # "1.5" is no German integer: must not become 15
            "5;12,0;1,2,3\n")
    frame, report = check(make_contract(fields, {"format": "csv", "delimiter": ";", "decimal": ",",
                                                 "thousands": "."}), text)
    assert frame["residents"].tolist()[:3] == [3907, 12345678, 999]
    assert frame["share"].tolist()[:4] == [12.5, -0.25, 1234.75, 7.0]
    type_failures = {(f.row, f.column): f.value for f in report.failures() if f.rule == "type"}
    assert type_failures == {(5, "residents"): "1.5", (6, "share"): "1,2,3"}
    assert frame["residents"].isna().tolist() == [False, False, False, True, False]
    assert frame["residents"].tolist()[4] == 12  # "12,0" is an integral number


def test_decimal_point_is_the_default(check, make_contract):
    fields = [("district_id", "integer"), ("share", "number")]
    frame, report = check(make_contract(fields, {"format": "csv"}), "district_id,share\n1,12.5\n2,\"12,5\"\n")
    assert frame["share"].tolist()[0] == 12.5
    assert rows_of(report, "type") == [3]


def test_german_dates(check, make_contract):
    fields = [("district_id", "integer"), ("stichtag", "date"),
              {"name": "gemeldet", "type": "datetime", "format": "%d.%m.%Y %H:%M"}]
    text = ("district_id;stichtag;gemeldet\n"
            "1;31.12.2022;01.02.2023 08:15\n"
            "2;31.02.2022;01.02.2023 08:15\n"
            "3;2022-12-31;1.2.2023\n")
    frame, report = check(make_contract(fields, {"format": "csv", "delimiter": ";", "date_format": "%d.%m.%Y"}), text)
    assert frame["stichtag"].iloc[0] == pd.Timestamp("2022-12-31")
    assert frame["gemeldet"].iloc[0] == pd.Timestamp("2023-02-01 08:15")
    bad = {(f.row, f.column) for f in report.failures() if f.rule == "type"}
    assert bad == {(3, "stichtag"), (4, "stichtag"), (4, "gemeldet")}
    assert any("%d.%m.%Y" in f.message for f in report.failures())


def test_iso_dates_without_date_format(check, make_contract):
    frame, report = check(make_contract([("stichtag", "date")], {"format": "csv"}), "stichtag\n2022-12-31\n31.12.2022\n")
    assert frame["stichtag"].iloc[0] == pd.Timestamp("2022-12-31")
    assert rows_of(report, "type") == [3]


# --- layout: header row, footer, dropped rows ------------------------------------------

def test_header_row_below_title_lines_keeps_line_numbers(check, make_contract):
    text = ("Einwohner nach Stadtteilen\n"
            "Stand: 31.12.2022\n"
            "year;district_id;name;residents\n"
            "2022;1;Altstadt;3907\n"
            "2022;zwei;Neustadt;5052\n"
            "\n"
            "2022;3;Nordstadt;viele\n")
    frame, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";", "header_row": 3}), text)
    assert len(frame) == 3  # the blank line is no row
    assert {(f.row, f.column) for f in report.failures()} == {(5, "district_id"), (7, "residents")}


def test_skip_footer_rows(check, make_contract):
    text = ("year;district_id;name;residents\n"
            "2022;1;Altstadt;3907\n"
            "2022;2;Neustadt;5052\n"
            "Quelle: Melderegister\n"
            "Stand 31.12.2022; vorläufig; Angaben; ohne; Gewähr\n")
    frame, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";", "skip_footer_rows": 2}), text)
    assert report.ok, report.to_text()
    assert frame["district_id"].tolist() == [1, 2]


def test_skip_footer_rows_ignores_trailing_blank_lines(check, make_contract):
    text = "year;district_id;name;residents\n2022;1;Altstadt;3907\nQuelle: Melderegister\n\n\n"
    frame, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";", "skip_footer_rows": 1}), text)
    assert report.ok, report.to_text()
    assert frame["district_id"].tolist() == [1]


def test_without_skip_footer_the_footer_is_reported(check, make_contract):
    text = "year;district_id;name;residents\n2022;1;Altstadt;3907\nQuelle: Melderegister\n"
    _, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";"}), text)
    assert rows_of(report, "field_count") == [3]


def test_drop_rows_totals_and_footnotes(check, make_contract):
    text = ("year;district_id;name;residents\n"
            "2022;1;Altstadt;3907\n"
            "2022;2;Neustadt;5052\n"
            "2022;;Insgesamt;8959\n"
            "* vorläufige Zahlen\n")
    contract = make_contract(FIELDS, {"format": "csv", "delimiter": ";", "drop_rows": [
        {"column": "name", "pattern": "^Insgesamt$"}, {"column": "year", "pattern": r"^\*"}]})
    frame, report = check(contract, text)
    assert report.ok, report.to_text()
    assert frame["name"].tolist() == ["Altstadt", "Neustadt"]
    assert any("Insgesamt" in n and "Zeile 4" in n for n in report.notes)
    assert any("Zeile 5" in n for n in report.notes)


def test_drop_rows_pattern_that_matches_nothing_changes_nothing(check, make_contract):
    text = "year;district_id;name;residents\n2022;1;Altstadt;3907\n2022;;Insgesamt;3907\n"
    contract = make_contract(FIELDS, {"format": "csv", "delimiter": ";",
                                      "drop_rows": [{"column": "name", "pattern": "^Summe$"}]})
    frame, report = check(contract, text)
    assert len(frame) == 2 and report.notes == []


# --- columns: rename, drop, missing values, derive, constants ------------------------------

def test_rename_and_drop_columns(check, make_contract):
    text = "Jahr;Stadtteil;Name;Einwohner;Bearbeiter\n2022;1;Altstadt;3907;Meier\n"
    source = {"format": "csv", "delimiter": ";",
              "rename": {"Jahr": "year", "Stadtteil": "district_id", "Name": "name", "Einwohner": "residents"},
              "drop_columns": ["Bearbeiter"]}
    frame, report = check(make_contract(FIELDS, source), text)
    assert report.ok, report.to_text()
    assert list(frame.columns) == ["year", "district_id", "name", "residents"]
    source.pop("drop_columns")
    _, report = check(make_contract(FIELDS, source), text)
    assert [f.column for f in report.failures() if f.rule == "extra_column"] == ["Bearbeiter"]


def test_missing_values(check, make_contract):
    text = "year;district_id;name;residents\n2022;1;Altstadt;-\n2022;2;Neustadt;.\n2022;3;Nordstadt;\n"
    contract = make_contract(FIELDS, {"format": "csv", "delimiter": ";", "missing_values": ["", "-", "."]})
    frame, report = check(contract, text)
    assert report.ok, report.to_text()
    assert frame["residents"].isna().all()
    _, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";"}), text)
    assert rows_of(report, "type") == [2, 3]  # without the option "-" and "." are no numbers


def test_suppressed_cells_are_flagged(check, make_contract):
    fields = [("district_id", "integer"), {"name": "cases", "type": "integer", "missing_means": "suppressed"}]
    frame, report = check(make_contract(fields, {"format": "csv", "delimiter": ";", "missing_values": ["*"]}),
                          "district_id;cases\n1;*\n2;7\n")
    assert report.ok
    assert frame["cases_suppressed"].tolist() == [True, False]
    assert frame["cases"].isna().tolist() == [True, False]


def test_derive_and_constants(check, make_contract):
    text = "AREA_NAME;residents\n03 Nordstadt;12532\n11 Mürwik;18350\n"
    fields = [("AREA_NAME", "string"), ("residents", "integer"), ("district_id", "integer"), ("year", "year")]
    source = {"format": "csv", "delimiter": ";", "derive": {"district_id": {"from": "AREA_NAME", "pattern": r"^(\d+) "}},
              "constants": {"year": 2022}}
    frame, report = check(make_contract(fields, source), text)
    assert report.ok, report.to_text()
    assert frame["district_id"].tolist() == [3, 11]
    assert frame["year"].tolist() == [2022, 2022]


def test_derive_without_match_leaves_missing(check, make_contract):
    fields = [("AREA_NAME", "string"), {"name": "district_id", "type": "integer", "constraints": {"required": True}}]
    source = {"format": "csv", "derive": {"district_id": {"from": "AREA_NAME", "pattern": r"^(\d+) "}}}
    _, report = check(make_contract(fields, source), "AREA_NAME\n03 Nordstadt\nNordstadt\n")
    assert rows_of(report, "required") == [3]


def test_wide_to_long_keeps_original_line(check, make_contract):
    text = ("district_id;2021;2022;Bemerkung\n"
            "1;3866;3907;\n"
            "2;4850;x;\n"
            "3;12525;12532;\n")
    fields = [("district_id", "integer"), ("year", "year"), ("residents", "integer")]
    source = {"format": "csv", "delimiter": ";", "drop_columns": ["Bemerkung"],
              "wide_to_long": {"id_columns": ["district_id"], "value_columns_pattern": r"\d{4}",
                               "names_to": "year", "values_to": "residents"}}
    frame, report = check(make_contract(fields, source, primary_key=["district_id", "year"]), text)
    assert len(frame) == 6
    assert frame[["district_id", "year"]].astype(int).values.tolist() == [[1, 2021], [1, 2022], [2, 2021], [2, 2022],
                                                                          [3, 2021], [3, 2022]]
    assert frame["residents"].tolist()[:2] == [3866, 3907]
    [failure] = report.failures()
    assert (failure.rule, failure.row, failure.column, failure.value) == ("type", 3, "residents", "x")


# --- Excel ---------------------------------------------------------------------------------

@pytest.fixture
def xlsx(tmp_path):
    path = tmp_path / "einwohner.xlsx"
    cover = pd.DataFrame({"Hinweis": ["Deckblatt, keine Daten"]})
    data = pd.DataFrame({"year": [2022, 2022, None, 2022], "district_id": [1, 2, None, "drei"],
                         "name": ["Altstadt", "Neustadt", None, "Nordstadt"], "residents": [3907, 5052.0, None, 12532]})
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        cover.to_excel(writer, sheet_name="Deckblatt", index=False)
        # Two title lines above the header (header in Excel row 3); the third data row is blank.
        pd.DataFrame([["Einwohner 2022"], ["Quelle: Melderegister"]]).to_excel(
            writer, sheet_name="Daten", index=False, header=False)
        data.to_excel(writer, sheet_name="Daten", index=False, startrow=2)
    return path


@pytest.mark.parametrize("sheet", ["Daten", 1])
def test_xlsx_sheet_by_name_and_index_with_header_row(check, make_contract, xlsx, sheet):
    frame, report = check(make_contract(FIELDS, {"format": "xlsx", "sheet": sheet, "header_row": 3}), xlsx)
    assert frame["name"].tolist() == ["Altstadt", "Neustadt", "Nordstadt"]
    assert frame["residents"].tolist() == [3907, 5052, 12532]
    # Excel rows: header 3, data 4, 5, (6 blank), 7
    [failure] = report.failures()
    assert (failure.rule, failure.row, failure.column, failure.value) == ("type", 7, "district_id", "drei")


def test_xlsx_unknown_sheet(check, make_contract, xlsx):
    frame, report = check(make_contract(FIELDS, {"format": "xlsx", "sheet": "Tabelle9"}), xlsx)
    assert frame is None and [f.rule for f in report.failures()] == ["file"]


def test_xlsx_broken_file(check, make_contract, tmp_path):
    frame, report = check(make_contract(FIELDS, {"format": "xlsx"}), b"PK\x03\x04 kein echtes Excel", name="x.xlsx")
    assert frame is None and "Excel" in report.failures()[0].message


# --- file level -----------------------------------------------------------------------------

def test_missing_and_empty_files(check, make_contract, tmp_path):
    contract = make_contract(FIELDS, {"format": "csv"})
    frame, report = check(contract, tmp_path / "gibt_es_nicht.csv")
    assert frame is None and report.failures()[0].rule == "file"
    frame, report = check(contract, b"")
    assert frame is None and report.failures()[0].rule == "empty_file"
    frame, report = check(contract, "year,district_id,name,residents\n")
    assert frame is None and [f.rule for f in report.failures()] == ["no_rows"]


def test_too_many_fields_is_a_parse_failure_with_line(check, make_contract):
    text = "Titel\nyear;district_id;name;residents\n2022;1;Altstadt;1\n2022;2;Neu;stadt;2\n"
    frame, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";", "header_row": 2}), text)
    assert frame is None
    [failure] = report.failures()
    assert (failure.rule, failure.row) == ("parse", 4)


def test_short_line_is_a_field_count_failure(check, make_contract):
    text = "year;district_id;name;residents\n2022;1;Altstadt;1\n2022;2\n"
    _, report = check(make_contract(FIELDS, {"format": "csv", "delimiter": ";"}), text)
    assert rows_of(report, "field_count") == [3]


# --- geodata ----------------------------------------------------------------------------------

GEO_FIELDS = [("area_id", "string"), ("district_id", "integer"),
              {"name": "geometry", "type": "geometry", "geometry_type": ["Polygon", "MultiPolygon"],
               "crs": "EPSG:25832", "constraints": {"required": True}}]


def squares(crs="EPSG:25832"):
    """Two adjacent 1 km squares near Flensburg (EPSG:25832), optionally given in another CRS."""
    import geopandas as gpd
    from shapely.geometry import box

    frame = gpd.GeoDataFrame({"area_id": ["STGT01", "STGT02"], "district_id": [1, 2]},
                             geometry=[box(527000, 6070000, 528000, 6071000), box(528000, 6070000, 529000, 6071000)],
                             crs="EPSG:25832")
    return frame.to_crs(crs)


def test_geojson_in_crs84_is_reprojected_to_25832(check, make_contract, tmp_path):
    path = tmp_path / "stadtteile.geojson"
    squares("OGC:CRS84").to_file(path, driver="GeoJSON")
    frame, report = check(make_contract(GEO_FIELDS, {"format": "geojson", "crs": "OGC:CRS84"}), path)
    assert report.ok, report.to_text()
    assert frame.crs.to_epsg() == 25832
    assert frame.geometry.iloc[0].bounds == pytest.approx((527000, 6070000, 528000, 6071000), abs=0.01)
    assert frame["district_id"].tolist() == [1, 2]


def test_crs_check_refuses_unexpected_crs(check, make_contract, tmp_path):
    path = tmp_path / "stadtteile.geojson"
    squares("EPSG:4326").to_file(path, driver="GeoJSON")
    _, report = check(make_contract(GEO_FIELDS, {"format": "geojson", "crs": "EPSG:25832"}), path)
    [failure] = [f for f in report.failures() if f.rule == "crs"]
    assert "EPSG:25832" in failure.message and not report.ok


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_crs_check_refuses_file_without_crs(check, make_contract, tmp_path):
    path = tmp_path / "ohne_crs.gpkg"
    squares().set_crs(None, allow_override=True).to_file(path, driver="GPKG")
    _, report = check(make_contract(GEO_FIELDS, {"format": "gpkg", "crs": "EPSG:25832"}), path)
    assert [f.rule for f in report.failures()] == ["crs"]


@pytest.mark.filterwarnings("ignore:Column names longer than 10", "ignore:Normalized/laundered field name")
def test_shapefile_zip(check, make_contract, tmp_path):
    folder = tmp_path / "shp"
    folder.mkdir()
    squares("EPSG:4326").to_file(folder / "stadtteile.shp")
    path = tmp_path / "stadtteile.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    # dBase cuts column names to 10 characters: the contract renames them back
    source = {"format": "shapefile_zip", "crs": "EPSG:4326", "rename": {"district_i": "district_id"}}
    frame, report = check(make_contract(GEO_FIELDS, source), path)
    assert report.ok, report.to_text()
    assert frame.crs.to_epsg() == 25832 and len(frame) == 2
    assert frame.geometry.iloc[1].bounds == pytest.approx((528000, 6070000, 529000, 6071000), abs=0.01)


def test_gpkg_with_layer(check, make_contract, tmp_path):
    path = tmp_path / "gebiete.gpkg"
    squares().to_file(path, layer="stadtteile", driver="GPKG")
    squares().iloc[:1].to_file(path, layer="andere", driver="GPKG")
    frame, report = check(make_contract(GEO_FIELDS, {"format": "gpkg", "layer": "stadtteile", "crs": "EPSG:25832"}),
                          path)
    assert report.ok, report.to_text()
    assert len(frame) == 2
    frame, _ = check(make_contract(GEO_FIELDS, {"format": "gpkg", "layer": "andere"}), path)
    assert len(frame) == 1
    frame, report = check(make_contract(GEO_FIELDS, {"format": "gpkg", "layer": "fehlt"}), path)
    assert frame is None and report.failures()[0].rule == "file"


def bowtie_file(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Polygon, box

    bowtie = Polygon([(527000, 6070000), (528000, 6071000), (528000, 6070000), (527000, 6071000)])
    assert not bowtie.is_valid
    path = tmp_path / "kaputt.gpkg"
    gpd.GeoDataFrame({"area_id": ["A", "B"], "district_id": [1, 2]},
                     geometry=[box(0, 0, 1, 1), bowtie], crs="EPSG:25832").to_file(path, driver="GPKG")
    return path


def test_invalid_geometry_is_reported_without_repair(check, make_contract, tmp_path):
    _, report = check(make_contract(GEO_FIELDS, {"format": "gpkg"}), bowtie_file(tmp_path))
    [failure] = report.failures()
    assert (failure.rule, failure.row) == ("valid_geometry", 2)
    assert "Self-intersection" in failure.message


def test_repair_geometry_make_valid_is_recorded_in_notes(check, make_contract, tmp_path):
    fields = [dict(f) if isinstance(f, dict) else f for f in GEO_FIELDS]
    frame, report = check(make_contract(fields, {"format": "gpkg", "repair_geometry": "make_valid"}),
                          bowtie_file(tmp_path))
    assert report.ok, report.to_text()
    assert frame.geometry.is_valid.all()
    assert frame.geometry.iloc[1].geom_type == "MultiPolygon"
    assert report.notes and "make_valid" in report.notes[0] and "2" in report.notes[0]
    assert "Hinweis:" in report.to_text()


def test_read_source_keeps_source_row_numbers(make_contract, contract_of, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("kopf\nyear;district_id;name;residents\n2022;1;A;1\n\n2022;2;B;2\n", encoding="utf-8")
    result = read_source(contract_of(make_contract(FIELDS, {"format": "csv", "delimiter": ";", "header_row": 2})), path)
    assert result.frame["_bif_row"].tolist() == [3, 5]
    assert np.issubdtype(result.frame["_bif_row"].dtype, np.integer)


def test_derive_from_a_renamed_column_that_is_then_dropped(check, make_contract):
    # conventions: AREA_ID is kept as stadtteil_code, district_id derived from it; AREA_NAME is left out
    text = "AREA_ID;AREA_NAME;residents\nSTGT03;03 Nordstadt;12532\nSTGT11;11 Mürwik;18350\n"
    fields = [("stadtteil_code", "string"), ("district_id", "integer"), ("name", "string"), ("residents", "integer")]
    source = {"format": "csv", "delimiter": ";", "rename": {"AREA_ID": "stadtteil_code"},
              "derive": {"district_id": {"from": "AREA_ID", "pattern": r"^STGT(\d+)$"},
                         "name": {"from": "AREA_NAME", "pattern": r"^\d+ (.+)$"}},
              "drop_columns": ["AREA_NAME"]}
    frame, report = check(make_contract(fields, source), text)
    assert report.ok, report.to_text()
    assert frame[["stadtteil_code", "district_id", "name"]].values.tolist() == [["STGT03", 3, "Nordstadt"],
                                                                              ["STGT11", 11, "Mürwik"]]
    source["derive"]["district_id"]["from"] = "stadtteil_code"  # the new name works as well
    frame, report = check(make_contract(fields, source), text)
    assert frame["district_id"].tolist() == [3, 11]


def test_xlsx_skip_footer_rows(check, make_contract, tmp_path):
    path = tmp_path / "mit_fusszeile.xlsx"
    pd.DataFrame({"year": [2022, 2022, "Quelle: Melderegister"], "district_id": [1, 2, None],
                  "name": ["Altstadt", "Neustadt", None], "residents": [3907, 5052, None]}).to_excel(path, index=False)
    _, report = check(make_contract(FIELDS, {"format": "xlsx"}), path)
    assert [(f.rule, f.row) for f in report.failures()] == [("type", 4)]
    frame, report = check(make_contract(FIELDS, {"format": "xlsx", "skip_footer_rows": 1}), path)
    assert report.ok and frame["district_id"].tolist() == [1, 2]


def test_parquet_source(check, make_contract, tmp_path):
    path = tmp_path / "daten.parquet"
    pd.DataFrame({"year": [2022, 2022], "district_id": [1, 2], "name": ["Altstadt", "Neustadt"],
                  "residents": [3907, -1]}).to_parquet(path)
    fields = FIELDS[:3] + [{"name": "residents", "type": "integer", "constraints": {"minimum": 0}}]
    frame, report = check(make_contract(fields, {"format": "parquet"}), path)
    assert frame["residents"].tolist() == [3907, -1]
    assert [(f.rule, f.row) for f in report.failures()] == [("minimum", 2)]
