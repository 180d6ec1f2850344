"""Generate the malformed-input corpus under ``tests/corpus/files/`` (and its valid counterparts).

Run from the repository root::

    .venv/bin/python tests/corpus/make_corpus.py

Everything here is invented test content shaped like a small city (Flensburg-like numbering:
Stadtteile 1–13, residents per year), not copied from any real data file. Each malformed file is
the valid file of its contract with exactly one realistic defect, so that ``corpus.yaml`` can
name the rule that must reject it. The output is byte-reproducible (fixed timestamps inside
the zip and xlsx containers); ``test_corpus.py`` checks that the committed files match.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)

# --- invented base data -------------------------------------------------------------------------

# district_id, name, residents 2022, share under 18, share 65+, share foreign nationals (%)
STADTTEILE = [
    (1, "Altstadt", 3912, 0.11, 0.17, 21.4),
    (2, "Neustadt", 5284, 0.14, 0.15, 24.8),
    (3, "Nordstadt", 10873, 0.15, 0.19, 14.2),
    (4, "Westliche Höhe", 8046, 0.16, 0.22, 9.7),
    (5, "Friesischer Berg", 8127, 0.13, 0.18, 13.5),
    (6, "Weiche", 8352, 0.19, 0.21, 7.8),
    (7, "Südstadt", 4705, 0.14, 0.16, 15.1),
    (8, "Sandberg", 7318, 0.15, 0.20, 11.6),
    (9, "Jürgensby", 9791, 0.16, 0.19, 12.3),
    (10, "Fruerlund", 8437, 0.17, 0.23, 8.4),
    (11, "Mürwik", 13026, 0.15, 0.24, 7.1),
    (12, "Engelsby", 9284, 0.18, 0.25, 6.5),
    (13, "Tarup", 4163, 0.20, 0.18, 4.9),
]
# relative change 2022 -> 2023 per district (small, plausible)
CHANGE_2023 = [0.012, 0.018, 0.006, -0.004, 0.009, 0.011, 0.021, -0.002, 0.007, 0.003, -0.006, 0.004, 0.015]
YEARS = (2022, 2023)

EINWOHNER_HEADER = ("stichtag;jahr;district_id;stadtteil;stadtteil_code;einwohner;"
                    "alter_0_17;alter_18_64;alter_65_plus;anteil_auslaender")


def einwohner_rows() -> list[dict]:
    rows = []
    for year in YEARS:
        for (district, name, residents, u18, o65, foreign), change in zip(STADTTEILE, CHANGE_2023):
            total = residents if year == 2022 else round(residents * (1 + change))
            young, old = round(total * u18), round(total * o65)
            rows.append({"stichtag": f"31.12.{year}", "jahr": year, "district_id": district, "stadtteil": name,
                         "stadtteil_code": f"STGT{district:02d}", "einwohner": total, "alter_0_17": young,
                         "alter_18_64": total - young - old, "alter_65_plus": old,
                         "anteil_auslaender": f"{foreign + (0.3 if year == 2023 else 0):.1f}"})
    return rows


def line_of(year: int, district: int) -> int:
    """Line (1-based, header = line 1) of a district/year in the einwohner files."""
    return 2 + YEARS.index(year) * len(STADTTEILE) + district - 1


def einwohner_lines(rows: list[dict] | None = None) -> list[str]:
    rows = einwohner_rows() if rows is None else rows
    return [EINWOHNER_HEADER] + [";".join(str(r[c]) for c in EINWOHNER_HEADER.split(";")) for r in rows]


def text(lines: list[str], end: str = "\n") -> str:
    return "\n".join(lines) + end


# --- geometry (simplified test geometry in EPSG:25832) ---------------------------------------------
# The city is a 13 km x 12 km rectangle; Stadtteil n is the 1 km wide strip starting at X0 + (n-1) km.
X0, Y0, WIDTH, HEIGHT = 521000, 6066000, 13000, 12000
CRS_25832 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25832"}}


def ring(x1, y1, x2, y2) -> list[list[float]]:
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2], [x1, y1]]


def feature_collection(name: str, features: list[dict], crs: dict | None = CRS_25832) -> str:
    collection = {"type": "FeatureCollection", "name": name}
    if crs is not None:
        collection["crs"] = crs
    collection["features"] = features
    return json.dumps(collection, ensure_ascii=False, indent=1) + "\n"


def feature(properties: dict, geometry: dict) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def district_polygon(district: int) -> dict:
    x1 = X0 + (district - 1) * 1000
    return {"type": "Polygon", "coordinates": [ring(x1, Y0, x1 + 1000, Y0 + HEIGHT)]}


KITAS = [  # kita_id, name, traeger, plaetze, district_id, offset north of Y0 in m
    ("KITA001", "Kita Hafenspatzen", "kommunal", 65, 1, 6100),
    ("KITA002", "Kita Regenbogen", "frei", 90, 3, 8200),
    ("KITA003", "Ev. Kita St. Jürgen", "kirchlich", 75, 9, 5400),
    ("KITA004", "Kita Fördeblick", "kommunal", 110, 11, 9300),
    ("KITA005", "Waldkita Tarup", "frei", 20, 13, 3100),
    ("KITA006", "Kita Sonnenschein", "kommunal", 85, 6, 2500),
]


def kita_features(transform=None) -> list[dict]:
    features = []
    for kita_id, name, traeger, plaetze, district, north in KITAS:
        x, y = X0 + (district - 1) * 1000 + 430.0, Y0 + north + 0.0
        if transform is not None:
            x, y = transform(x, y)
        features.append(feature({"kita_id": kita_id, "name": name, "traeger": traeger, "plaetze": plaetze,
                                 "district_id": district}, {"type": "Point", "coordinates": [x, y]}))
    return features


SCHULEN = [  # schul_nr, name, schulart, district_id, offset north
    ("1001", "Grundschule am Hafen", "Grundschule", 1, 5800),
    ("1002", "Nordstadtschule", "Gemeinschaftsschule", 3, 9100),
    ("1003", "Fördegymnasium", "Gymnasium", 9, 6100),
    ("1004", "Schule am Volkspark", "Förderzentrum", 11, 7700),
]


# --- writers -------------------------------------------------------------------------------------

def write_text(relative: str, content: str, encoding: str = "utf-8") -> None:
    path = FILES / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode(encoding))


def write_bytes(relative: str, content: bytes) -> None:
    path = FILES / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def deterministic_zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def normalise_xlsx(data: bytes) -> bytes:
    """Rewrite an openpyxl workbook with fixed timestamps so the bytes are reproducible."""
    members = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            content = zf.read(name)
            if name == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*", rb"\g<1>2024-01-01T00:00:00Z", content)
            members.append((name, content))
    return deterministic_zip(members)


def xlsx(rows: list[list], sheet: str = "Daten") -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return normalise_xlsx(buffer.getvalue())


def kita_plaetze_rows(bad_cell: tuple[int, str] | None = None) -> list[list]:
    rows = [["Kita-Plätze nach Stadtteilen – Bedarfsplanung 2023"], ["Stand: 01.03.2023"],
            ["jahr", "district_id", "plaetze_u3", "plaetze_ue3"]]
    for district, *_ in STADTTEILE:
        rows.append([2023, district, 20 + 7 * district % 45, 80 + 13 * district % 120])
    if bad_cell:
        district, value = bad_cell
        rows[2 + district][2] = value
    return rows


def shapefile_zip(crs: int) -> bytes:
    import geopandas as gpd
    from shapely.geometry import Point

    frame = gpd.GeoDataFrame(
        {"schul_nr": [s[0] for s in SCHULEN], "name": [s[1] for s in SCHULEN], "schulart": [s[2] for s in SCHULEN],
         "district_id": [s[3] for s in SCHULEN]},
        geometry=[Point(X0 + (s[3] - 1) * 1000 + 600, Y0 + s[4]) for s in SCHULEN], crs=25832).to_crs(crs)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "schulen.shp"
        with warnings.catch_warnings():  # GDAL shortens district_id to district_i, as real exports do
            warnings.simplefilter("ignore")
            frame.to_file(target, driver="ESRI Shapefile", engine="pyogrio", layer_options={"ENCODING": "UTF-8"})
        members = []
        for part in sorted(Path(tmp).iterdir()):
            data = bytearray(part.read_bytes())
            if part.suffix == ".dbf":
                data[1:4] = bytes([124, 1, 1])  # dBase "last update" date -> 2024-01-01
            members.append((part.name, bytes(data)))
    return deterministic_zip(members)


# --- the corpus ----------------------------------------------------------------------------------

def make_valid() -> None:
    write_text("valid/stadtteile.csv", text(["district_id;stadtteil_code;name"] +
                                            [f"{d};STGT{d:02d};{n}" for d, n, *_ in STADTTEILE]))
    write_text("valid/stadtgrenze.geojson", feature_collection("stadtgrenze", [
        feature({"name": "Stadtgebiet (vereinfacht)"},
                {"type": "Polygon", "coordinates": [ring(X0, Y0, X0 + WIDTH, Y0 + HEIGHT)]})]))
    write_text("valid/einwohner_stadtteile.csv", text(einwohner_lines()))
    # Excel's "CSV UTF-8" flavour: byte order mark and CRLF line ends must be accepted too.
    write_text("valid/einwohner_stadtteile_bom_crlf.csv", "\ufeff" + "\r\n".join(einwohner_lines()) + "\r\n")
    write_text("valid/einwohner_mit_summe.csv", text(summe_lines()))
    write_text("valid/kitas.geojson", feature_collection("kitas", kita_features()))
    write_text("valid/stadtteil_flaechen.geojson", feature_collection("stadtteil_flaechen", [
        feature({"district_id": d, "stadtteil_code": f"STGT{d:02d}"}, district_polygon(d)) for d, *_ in STADTTEILE]))
    write_bytes("valid/schulen.zip", shapefile_zip(25832))
    write_bytes("valid/kita_plaetze.xlsx", xlsx(kita_plaetze_rows()))


def summe_lines(city_delta: int = 0) -> list[str]:
    lines = ["jahr;district_id;gebiet;einwohner"]
    rows = einwohner_rows()
    for year in YEARS:
        parts = [r for r in rows if r["jahr"] == year]
        lines += [f"{year};{r['district_id']};{r['stadtteil']};{r['einwohner']}" for r in parts]
        delta = city_delta if year == 2023 else 0
        lines.append(f"{year};;Stadt insgesamt;{sum(r['einwohner'] for r in parts) + delta}")
    return lines


def replace_field(lines: list[str], line: int, column: str, value) -> list[str]:
    """Set one field of an einwohner line (1-based line number)."""
    lines = list(lines)
    names = lines[0].split(";")
    fields = lines[line - 1].split(";")
    fields[names.index(column)] = str(value)
    lines[line - 1] = ";".join(fields)
    return lines


def drop_column(lines: list[str], column: str) -> list[str]:
    index = lines[0].split(";").index(column)
    return [";".join(f for i, f in enumerate(line.split(";")) if i != index) for line in lines]


def make_malformed() -> None:
    base = einwohner_lines()
    m = "malformed/"
    # encoding: the register export saved as Windows-1252 ("ANSI") instead of UTF-8
    write_text(m + "einwohner_cp1252.csv", text(base), encoding="cp1252")
    # delimiter: comma instead of semicolon
    write_text(m + "einwohner_komma_getrennt.csv", text([line.replace(";", ",") for line in base]))
    # columns
    write_text(m + "einwohner_spalte_fehlt.csv", text(drop_column(base, "anteil_auslaender")))
    write_text(m + "einwohner_spalte_zusaetzlich.csv",
               text([base[0] + ";bemerkung"] + [line + ";" for line in base[1:]]))
    write_text(m + "einwohner_spalte_umbenannt.csv", text([base[0].replace(";einwohner;", ";einwohner_insgesamt;")] + base[1:]))
    # every data line ends with a delimiter the header lacks (pandas alone would shift all columns)
    write_text(m + "einwohner_semikolon_am_zeilenende.csv", text(base[:1] + [line + ";" for line in base[1:]]))
    # types
    write_text(m + "einwohner_text_in_zahl.csv", text(replace_field(base, line_of(2023, 5), "einwohner", "ca. 8200")))
    rows = einwohner_rows()
    for r in rows:
        r["anteil_auslaender"] = r["anteil_auslaender"].replace(".", ",")
    write_text(m + "einwohner_dezimalkomma.csv", text(einwohner_lines(rows)))
    write_text(m + "einwohner_datum_ungueltig.csv", text(replace_field(base, line_of(2023, 6), "stichtag", "31.11.2023")))
    write_text(m + "einwohner_datum_iso.csv", text(
        [line.replace("31.12.2022", "2022-12-31").replace("31.12.2023", "2023-12-31") for line in base]))
    # keys
    dup = line_of(2023, 7)
    write_text(m + "einwohner_doppelte_zeile.csv", text(base[:dup] + [base[dup - 1]] + base[dup:]))
    write_text(m + "einwohner_stadtteil_14.csv", text(replace_field(base, line_of(2023, 13), "district_id", 14)))
    # ranges, enums, patterns
    line = line_of(2022, 10)
    rows = einwohner_rows()
    r = rows[line - 2]
    r["alter_65_plus"], r["alter_18_64"] = -1, r["alter_18_64"] + r["alter_65_plus"] + 1  # "-1" = unknown
    write_text(m + "einwohner_negativ.csv", text(einwohner_lines(rows)))
    write_text(m + "einwohner_anteil_ueber_100.csv", text(replace_field(base, line_of(2023, 2), "anteil_auslaender", "251")))
    write_text(m + "einwohner_stadtteil_tippfehler.csv", text(replace_field(base, line_of(2022, 11), "stadtteil", "Mürwick")))
    write_text(m + "einwohner_code_muster.csv", text(replace_field(base, line_of(2022, 9), "stadtteil_code", "STGT9")))
    write_text(m + "einwohner_pflichtwert_fehlt.csv", text(replace_field(base, line_of(2023, 4), "einwohner", "")))
    # empty and structural
    write_text(m + "leer.csv", "")
    write_text(m + "nur_leerraum.csv", "  \n\t\n   \n")
    write_text(m + "einwohner_nur_kopfzeile.csv", text(base[:1]))
    total_2023 = sum(r["einwohner"] for r in einwohner_rows() if r["jahr"] == 2023)
    write_text(m + "einwohner_summenzeile_gesamt.csv", text(base + [f"31.12.2023;2023;;Gesamt;;{total_2023};;;;"]))
    write_text(m + "einwohner_summenzeile_summe.csv", text(base + [f"31.12.2023;2023;Summe;;;{total_2023};;;;"]))
    write_text(m + "einwohner_fussnote.csv", text(base + ["", "Quelle: Melderegister, Stand 31.12.2023"]))
    last = base[-1]
    write_text(m + "einwohner_abgeschnitten.csv", text(base[:-1] + [last[:last.index(";STGT13;") + 10]], end=""))
    write_text(m + "einwohner_anfuehrungszeichen_offen.csv",
               text(base[:-1] + [last.replace(";Tarup;", ';"Tarup;')]))
    # plausibility rules
    line = line_of(2022, 8)
    write_text(m + "einwohner_altersgruppen_summe.csv",
               text(replace_field(base, line, "alter_18_64", int(base[line - 1].split(";")[7]) + 100)))
    write_text(m + "einwohner_stadtteil_fehlt_im_jahr.csv", text([ln for i, ln in enumerate(base, 1) if i != line_of(2023, 12)]))
    rows = einwohner_rows()
    r = rows[line_of(2023, 11) - 2]
    r["einwohner"] = 17950  # new-build area counted twice: +37 %
    r["alter_0_17"], r["alter_65_plus"] = round(17950 * 0.15), round(17950 * 0.24)
    r["alter_18_64"] = 17950 - r["alter_0_17"] - r["alter_65_plus"]
    write_text(m + "einwohner_sprung_vorjahr.csv", text(einwohner_lines(rows)))
    write_text(m + "einwohner_mit_summe_abweichung.csv", text(summe_lines(city_delta=250)))
    lines = summe_lines()
    write_text(m + "einwohner_mit_summe_doppelte_summenzeile.csv", text(lines + lines[-1:]))  # total pasted twice

    # geodata
    from pyproj import Transformer

    to_3857 = Transformer.from_crs(25832, 3857, always_xy=True).transform
    write_text(m + "kitas_epsg3857.geojson", feature_collection(
        "kitas", kita_features(to_3857), {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}))
    features = kita_features()
    x, y = features[2]["geometry"]["coordinates"]
    features[2]["geometry"] = {"type": "Polygon", "coordinates": [ring(x - 20, y - 15, x + 20, y + 15)]}  # building outline
    write_text(m + "kitas_polygon_statt_punkt.geojson", feature_collection("kitas", features))
    features = kita_features()
    features[4]["geometry"]["coordinates"] = [X0 + WIDTH + 2500.0, Y0 + 3100.0]  # east of the boundary
    write_text(m + "kitas_ausserhalb.geojson", feature_collection("kitas", features))
    features = kita_features()
    features[1]["properties"]["traeger"] = "evangelisch"
    write_text(m + "kitas_traeger_unbekannt.geojson", feature_collection("kitas", features))
    features = [feature({"district_id": d, "stadtteil_code": f"STGT{d:02d}"}, district_polygon(d)) for d, *_ in STADTTEILE]
    x1 = X0 + 3 * 1000  # district 4: corners in the wrong order -> bow tie (self-intersection)
    features[3]["geometry"] = {"type": "Polygon", "coordinates": [[[x1, Y0], [x1 + 1000, Y0 + HEIGHT], [x1 + 1000, Y0],
                                                                   [x1, Y0 + HEIGHT], [x1, Y0]]]}
    write_text(m + "stadtteil_flaechen_selbstschnitt.geojson", feature_collection("stadtteil_flaechen", features))
    write_bytes(m + "schulen_epsg4326.zip", shapefile_zip(4326))
    write_bytes(m + "schulen_kein_shapefile.zip", deterministic_zip([
        ("schulen.csv", "schul_nr;name\n1001;Grundschule am Hafen\n".encode()),
        ("liesmich.txt", "Export aus dem Schul-GIS; Koordinaten folgen.\n".encode())]))

    # Excel
    write_bytes(m + "kita_plaetze_falsches_blatt.xlsx", xlsx(kita_plaetze_rows(), sheet="Tabelle1"))
    valid = xlsx(kita_plaetze_rows())
    write_bytes(m + "kita_plaetze_abgeschnitten.xlsx", valid[: len(valid) // 2])  # interrupted upload
    write_bytes(m + "kita_plaetze_text_in_zahl.xlsx", xlsx(kita_plaetze_rows(bad_cell=(6, "k. A."))))


def main(target: Path | None = None) -> Path:
    global FILES
    if target is not None:
        FILES = Path(target)
    if FILES.exists():
        shutil.rmtree(FILES)
    make_valid()
    make_malformed()
    return FILES


if __name__ == "__main__":
    out = main(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"Korpus geschrieben: {out}")
