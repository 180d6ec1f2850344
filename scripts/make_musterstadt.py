#!/usr/bin/env python3
"""Generate the published source files of "Musterstadt", a FICTIONAL city (synthetic data, CC0 1.0).

Musterstadt is BIF's second city profile (data_contracts/musterstadt/): deliberately unlike
Flensburg, so that every model, app and notebook is run against a city it was not written for.

- 27 districts with non-consecutive integer codes (11–14, 21–25, 31–33, 41–42, 51–53, 61–62,
  71–73, 81–82, 91–93), German names with umlauts and ß;
- population stocks district × sex × 20 five-year age bands (0–4 … 90–94, 95 und älter) on
  31.12. of 2019–2023 — published in a file that names the districts only by an
  ASCII-transliterated name with odd spacing and case ("Suedviertel", "SCHLOSSBERG",
  "kleine  hoehe"), Windows-1252, semicolons, German thousands separators and a footnote;
- residents per district (code and proper name, one column per year, a title above the header,
  a footnote) and the city total per year (with a footnote);
- no boundaries, no schools, no Kitas, no births/deaths/moves tables.

Demography (plausible, not real): an ageing city; a student district (31 Universitätsviertel),
a family district (61 Neue Gärten), two old districts (72 Kirchdorf, 93 Eichhöfe). The stocks
are projected year by year with ageing, mortality, births (the 0–4 band is fed by births from
women aged 15–44) and district-specific net migration, then rounded; all totals files are sums
of the integer stocks, so they agree exactly.

Deterministic (seeded); stdlib + numpy only, no bif_lib. Usage:

    python scripts/make_musterstadt.py [OUTPUT_DIR]   # default data_contracts/musterstadt/sources

The files are shipped with the profile (``bundled: true`` in city.yaml: a fictional city has no
download address); paste the printed sha256/bytes into data_contracts/musterstadt/city.yaml
(``--check`` compares them instead and exits 1 on a difference).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import unicodedata
from pathlib import Path

import numpy as np

SEED = 20231231
YEARS = range(2019, 2024)
REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "data_contracts" / "musterstadt" / "sources"
FOOTNOTE = ("Fiktive Stadt Musterstadt – synthetische Daten, erzeugt mit scripts/make_musterstadt.py "
            "(CC0 1.0). Stichtag jeweils 31.12., Hauptwohnsitz.")

# code -> (name, kind, residents 2019 approx.)
DISTRICTS: dict[int, tuple[str, str, int]] = {
    11: ("Altstadt", "centre", 6400),
    12: ("Mühlenviertel", "centre", 8100),
    13: ("Schloßberg", "centre", 4300),
    14: ("Hafenmünde", "centre", 5200),
    21: ("Südviertel", "mixed", 11800),
    22: ("Gärtnerstadt", "mixed", 9400),
    23: ("Am Lindenhügel", "mixed", 7200),
    24: ("Weißenfeld", "mixed", 6100),
    25: ("Brückenau", "mixed", 8800),
    31: ("Universitätsviertel", "students", 12600),
    32: ("Kleine Höhe", "mixed", 5600),
    33: ("Rosenhöfe", "mixed", 4700),
    41: ("Nordheide", "suburb", 7900),
    42: ("Föhrenwald", "suburb", 3900),
    51: ("Östliches Ufer", "mixed", 9100),
    52: ("Bärenkamp", "mixed", 6700),
    53: ("Ölmühle", "mixed", 3100),
    61: ("Neue Gärten", "families", 10400),
    62: ("Wiesengrund", "suburb", 5800),
    71: ("Große Flur", "suburb", 4400),
    72: ("Kirchdorf", "old", 3600),
    73: ("Überseeviertel", "mixed", 7500),
    81: ("Grünau", "suburb", 6300),
    82: ("Fuchsbau", "suburb", 2700),
    91: ("Heidekrug", "mixed", 5300),
    92: ("Straßenmühle", "mixed", 4100),
    93: ("Eichhöfe", "old", 3400),
}

# The export of the stocks writes names transliterated, in these spellings (spacing, case)
ODD_SPELLING = {13: "SCHLOSSBERG", 23: "am Lindenhuegel", 32: "kleine  hoehe", 42: " Foehrenwald",
                51: "OESTLICHES UFER", 53: "Oelmuehle ", 71: "Grosse   Flur", 92: "strassenmuehle"}

BANDS = list(range(0, 100, 5))   # lower bounds; last band 95 und älter
# Share of a 5-year band in the population (Germany around 2019, rounded)
BASE_SHARE = np.array([4.8, 4.6, 4.5, 4.8, 5.6, 6.4, 6.6, 6.2, 5.8, 6.6,
                       8.2, 7.9, 6.6, 5.6, 4.5, 5.0, 3.2, 1.8, 0.8, 0.2])
# Share of men in each band
MALE_SHARE = np.array([.513, .513, .512, .515, .52, .515, .51, .505, .503, .50,
                       .50, .495, .49, .48, .47, .45, .42, .36, .28, .21])


def _profile(kind: str) -> np.ndarray:
    factor = np.ones(20)
    if kind == "students":
        factor[3] = 1.6
        factor[4] = 4.2
        factor[5] = 2.6
        factor[6] = 1.3
        factor[:3] = 0.35
        factor[12:] = 0.45
    elif kind == "families":
        factor[:3] = 1.9
        factor[6:9] = 1.6
        factor[4:6] = 0.7
        factor[13:] = 0.45
    elif kind == "old":
        factor[:6] = 0.7
        factor[13:] = 1.8
    elif kind == "centre":
        factor[4:8] = 1.45
        factor[:3] = 0.7
        factor[15:] = 0.8
    elif kind == "suburb":
        factor[:3] = 1.15
        factor[9:13] = 1.2
        factor[4:6] = 0.7
    return factor


# Net migration per year as a share of the band (district kind), plus small noise
def _migration(kind: str) -> np.ndarray:
    rate = np.zeros(20)
    if kind == "students":
        rate[3], rate[4], rate[5], rate[6] = 0.10, 0.06, -0.12, -0.06
    elif kind == "families":
        rate[:3], rate[6:9], rate[4] = 0.02, 0.03, -0.02
    elif kind == "old":
        rate[4:6], rate[15:] = -0.04, 0.01
    elif kind == "centre":
        rate[4:7], rate[:3] = 0.03, -0.03
    elif kind == "suburb":
        rate[:3], rate[6:9], rate[4:6] = 0.01, 0.01, -0.03
    return rate


TFR = {"students": 0.9, "families": 1.9, "old": 1.3, "centre": 1.2, "suburb": 1.6, "mixed": 1.4}


def _mortality(sex: str) -> np.ndarray:
    """Annual death probability at the middle of each band (Gompertz–Makeham, rough)."""
    mid = np.array(BANDS, dtype=float) + 2.5
    mid[-1] = 97.0
    level = 0.00004 if sex == "m" else 0.000022
    q = 0.0003 + level * np.exp(0.094 * mid)
    q[0] = 0.0008
    return np.minimum(q, 0.6)


def _round(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stochastic rounding to non-negative integers (unbiased, seeded)."""
    values = np.maximum(values, 0.0)
    floor = np.floor(values)
    return (floor + (rng.random(values.shape) < values - floor)).astype(np.int64)


def simulate() -> dict[int, np.ndarray]:
    """year -> stocks array [district, sex (0=m, 1=w), band] (integers)."""
    rng = np.random.default_rng(SEED)
    codes = list(DISTRICTS)
    first = np.zeros((len(codes), 2, 20))
    for i, code in enumerate(codes):
        _, kind, total = DISTRICTS[code]
        shares = BASE_SHARE * _profile(kind) * rng.lognormal(0.0, 0.08, 20)
        people = total * shares / shares.sum()
        male = MALE_SHARE + (0.03 if kind == "students" else 0.0)
        first[i, 0] = people * male
        first[i, 1] = people * (1 - male)
    stocks = {YEARS[0]: _round(first, rng)}
    death = np.stack([_mortality("m"), _mortality("w")])
    for year in YEARS[1:]:
        previous = stocks[year - 1].astype(float)
        nxt = np.zeros_like(previous)
        for i, code in enumerate(codes):
            _, kind, _ = DISTRICTS[code]
            for s in range(2):
                alive = previous[i, s] * (1 - death[s])
                moving = alive[:-1] / 5.0          # a fifth of each band has a birthday into the next
                band = alive.copy()
                band[:-1] -= moving
                band[1:] += moving
                band *= 1 + _migration(kind) + rng.normal(0, 0.01, 20)
                nxt[i, s] = band
            women = previous[i, 1, 3:9].sum()     # 15–44
            births = women * TFR[kind] / 30.0 * rng.lognormal(0, 0.03)
            nxt[i, 0, 0] += births * 0.513
            nxt[i, 1, 0] += births * 0.487
        stocks[year] = _round(nxt, rng)
    return stocks


def _de(n: int) -> str:
    return f"{int(n):,}".replace(",", ".")


def _band_label(lower: int) -> str:
    return f"{lower} bis {lower + 4}" if lower < 95 else "95 und älter"


def _ascii(name: str) -> str:
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue"), ("ß", "ss")):
        name = name.replace(a, b)
    return unicodedata.normalize("NFC", name)


def write_files(out: Path) -> dict[str, bytes]:
    stocks = simulate()
    codes = list(DISTRICTS)
    files: dict[str, bytes] = {}

    # 1. stocks by district (ASCII name only), age band and sex; Windows-1252, one row per
    #    year × district × band, columns männlich/weiblich
    lines = ["Jahr;Stadtteil;Altersgruppe;männlich;weiblich"]
    for year, array in stocks.items():
        for i, code in enumerate(codes):
            name = ODD_SPELLING.get(code, _ascii(DISTRICTS[code][0]))
            for b, lower in enumerate(BANDS):
                lines.append(f"{year};{name};{_band_label(lower)};{_de(array[i, 0, b])};{_de(array[i, 1, b])}")
    lines.append(FOOTNOTE)
    files["statistik/bevoelkerung_alter_geschlecht_2019-2023.csv"] = ("\r\n".join(lines) + "\r\n").encode("cp1252")

    # 2. residents by district (code and name), one column per year; title line above the header
    lines = ["Einwohnerinnen und Einwohner nach Stadtteilen, Musterstadt (fiktiv)", "",
             "Nr.;Stadtteil;" + ";".join(str(y) for y in YEARS)]
    for i, code in enumerate(codes):
        lines.append(f"{code};{DISTRICTS[code][0]};" + ";".join(_de(stocks[y][i].sum()) for y in YEARS))
    lines.append(FOOTNOTE)
    files["statistik/einwohner_stadtteile_2019-2023.csv"] = ("\n".join(lines) + "\n").encode("utf-8")

    # 3. the city total by year
    lines = ["Jahr;Einwohner insgesamt;männlich;weiblich"]
    for year, array in stocks.items():
        lines.append(f"{year};{_de(array.sum())};{_de(array[:, 0].sum())};{_de(array[:, 1].sum())}")
    lines.append(FOOTNOTE)
    files["statistik/einwohner_gesamtstadt.csv"] = ("\n".join(lines) + "\n").encode("utf-8")

    readme = (
        "# Musterstadt – fiktive Stadt, synthetische Daten\n\n"
        "Alle Dateien in diesem Ordner sind **erfunden** und mit `scripts/make_musterstadt.py` "
        f"(Seed {SEED}) erzeugt; Lizenz CC0 1.0. Musterstadt ist das zweite Stadtprofil von BIF "
        "(`data_contracts/musterstadt/`), bewusst anders als Flensburg: 27 Stadtteile mit "
        "nicht fortlaufenden Nummern, 5-Jahres-Altersgruppen, eine Datei nur mit (ASCII-)Namen, "
        "keine Geometrien, keine Schulen, keine Kitas.\n\n"
        "Die Dateien liegen dem Stadtprofil bei (`bundled: true` in `city.yaml`): "
        "`BIF_CITY=musterstadt bif data bootstrap` braucht keinen Download und keinen Spiegel.\n"
    )
    files["SOURCES.md"] = readme.encode("utf-8")
    for path, data in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true",
                        help="compare with the sources pinned in data_contracts/musterstadt/city.yaml")
    args = parser.parse_args(argv)
    files = write_files(args.out)
    pins = {p: (len(d), hashlib.sha256(d).hexdigest()) for p, d in files.items() if p != "SOURCES.md"}
    if args.check:
        text = (REPO / "data_contracts" / "musterstadt" / "city.yaml").read_text(encoding="utf-8")
        stale = [p for p, (size, sha) in pins.items() if sha not in text or f"bytes: {size}" not in text]
        for path in stale:
            print(f"city.yaml: {path} hat sich geändert", file=sys.stderr)
        return 1 if stale else 0
    for path, (size, sha) in pins.items():
        print(f"  - path: {path}\n    bytes: {size}\n    sha256: {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
