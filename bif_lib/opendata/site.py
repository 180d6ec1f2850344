"""The open data site: a static folder a city serves as it is or hands to its portal.

Layout::

    index.html                 German catalog page (no external resources, no scripts)
    catalog.ttl                DCAT-AP.de 3.0, Turtle: every released dataset
    catalog.jsonld             the same graph as JSON-LD
    bif-opendata.json          manifest: the published metadata and the checksum of every file
    datasets/<id>/             one Data Package per dataset (package.py): datapackage.json,
                               <id>.csv, <id>.parquet, <id>.geojson (geodata)

Releases accumulate: the catalog lists every dataset released into the folder; a new version
of a dataset replaces that dataset's files. A release never changes the folder in place: the
complete new site is built in a sibling folder (``.<name>.neu-…``) — the other datasets'
files copied after their checksums were verified against the manifest — validated, and then
swapped with the old folder in one step (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two
renames, and the next release puts the old site back if a process died between them). Readers
and a failing release see the old site or the new one, never a mix.

The manifest holds only what is published anyway (the catalog page's and the DCAT metadata's
content), so the catalog can be rebuilt from it without the store.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import html
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit

from bif_lib.fsutil import fsync_dir, write_private
from bif_lib.i18n import format_date, format_local_datetime, format_number
from bif_lib.opendata import vocabularies as vocab
from bif_lib.opendata.package import FILE_MODE, sha256_file
from bif_lib.opendata.policy import NAME

MANIFEST = "bif-opendata.json"
FORMAT = "bif-opendata-site"
FORMAT_VERSION = 1
DATASETS = "datasets"
STAGING_PREFIX = ".{name}.neu-"
OLD_PREFIX = ".{name}.alt-"   # the old site during a swap without renameat2
FILE_NAME = re.compile(r"^[a-z][a-z0-9_]{1,62}\.(csv|parquet|geojson)$|^datapackage\.json$")


class SiteError(RuntimeError):
    """The output folder cannot be used or is not what BIF wrote (German message)."""


# --- output folder and manifest ------------------------------------------------------------------

def check_output(output: Path) -> Path:
    """The output folder as an absolute path; refused if it is a symlink, not a folder, or a
    non-empty folder that is not a BIF open data site (BIF never replaces a folder it did not write)."""
    output = Path(os.path.abspath(output))
    if output.parent == output:
        raise SiteError("Das Wurzelverzeichnis kann kein Open-Data-Ordner sein.")
    if output.is_symlink():
        raise SiteError(f"{output} ist ein symbolischer Link: BIF schreibt offene Daten nur in einen echten Ordner "
                        f"(den Link auflösen oder einen anderen Ordner angeben).")
    if output.exists():
        if not output.is_dir():
            raise SiteError(f"{output} ist kein Ordner.")
        manifest = output / MANIFEST
        if manifest.is_symlink() or (not manifest.is_file() and any(output.iterdir())):
            raise SiteError(f"{output} ist nicht leer und kein Open-Data-Ordner von BIF (es fehlt {MANIFEST}): "
                            f"BIF ersetzt keinen fremden Ordner. Bitte einen leeren oder neuen Ordner angeben.")
    return output


def empty_manifest(city: dict, base_url: str) -> dict:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "generator": "BIF (bif opendata release)",
            "city": city, "base_url": base_url, "updated_at": None, "datasets": {}}


def read_manifest(output: Path) -> dict | None:
    """The site's manifest, checked for form; None for a new (missing or empty) folder."""
    path = output / MANIFEST
    if not output.exists() or not path.exists():
        return None
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise SiteError(f"{path} ist keine gewöhnliche Datei.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SiteError(f"{path} ist nicht lesbar ({exc}); der Ordner wird nicht verändert.") from None
    problems = manifest_problems(manifest)
    if problems:
        raise SiteError(f"{path} ist kein gültiges Manifest von BIF: {'; '.join(problems[:5])}. Der Ordner wird "
                        f"nicht verändert.")
    return manifest


def manifest_problems(manifest) -> list[str]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return [f"format ist nicht „{FORMAT}“"]
    if manifest.get("format_version") != FORMAT_VERSION:
        return [f"Formatversion {manifest.get('format_version')!r} unbekannt (erwartet {FORMAT_VERSION})"]
    problems = []
    datasets = manifest.get("datasets")
    if not isinstance(datasets, dict):
        return ["datasets fehlt"]
    for key, record in datasets.items():
        if not NAME.fullmatch(str(key)) or not isinstance(record, dict) or record.get("dataset") != key:
            problems.append(f"Eintrag „{str(key)[:60]}“ ungültig")
            continue
        for item in record.get("files") or []:
            if not isinstance(item, dict) or not FILE_NAME.fullmatch(str(item.get("name", ""))) \
                    or item.get("kind") not in vocab.FILE_TYPES:
                problems.append(f"{key}: Datei „{str(item)[:60]}“ ungültig")
    return problems


def file_problems(site_dir: Path, manifest: dict, only: set[str] | None = None) -> list[str]:
    """Files of the published datasets that are missing, not regular files or changed (German)."""
    problems = []
    for dataset, record in sorted(manifest["datasets"].items()):
        if only is not None and dataset not in only:
            continue
        folder = site_dir / DATASETS / dataset
        for item in record["files"]:
            path = folder / item["name"]
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                problems.append(f"{DATASETS}/{dataset}/{item['name']} fehlt")
                continue
            if not stat.S_ISREG(info.st_mode):
                problems.append(f"{DATASETS}/{dataset}/{item['name']} ist keine gewöhnliche Datei")
            elif info.st_size != item["bytes"] or sha256_file(path) != item["sha256"]:
                problems.append(f"{DATASETS}/{dataset}/{item['name']} wurde nach der Veröffentlichung verändert "
                                f"(Prüfsumme oder Größe weicht ab)")
    return problems


# --- building and swapping -----------------------------------------------------------------------

@contextlib.contextmanager
def locked(output: Path):
    """One release at a time per output folder (a lock file beside it)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    lock = output.parent / f".{output.name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_leftovers(output: Path) -> list[str]:
    """What a release that died left beside the site (under the lock: ours to handle): staging
    folders are removed; an old site moved aside by the two-rename swap is put back if the
    process died before the new one took its place, else removed."""
    removed = []
    old_sites = sorted(p for p in output.parent.glob(f"{OLD_PREFIX.format(name=output.name)}*")
                       if p.is_dir() and not p.is_symlink())
    if old_sites and not output.exists() and (old_sites[-1] / MANIFEST).is_file():
        os.rename(old_sites.pop(), output)
    for candidate in [*output.parent.glob(f"{STAGING_PREFIX.format(name=output.name)}*"), *old_sites]:
        if candidate.is_dir() and not candidate.is_symlink():
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate.name)
    return removed


def new_staging(output: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX.format(name=output.name), dir=output.parent))


def copy_dataset(source_site: Path, staging: Path, record: dict) -> None:
    """Copy a published dataset's files into the new site, each verified against the manifest
    (a file opened without following symlinks, hashed as it is copied)."""
    import hashlib

    dataset = record["dataset"]
    target = staging / DATASETS / dataset
    target.mkdir(parents=True, mode=0o755)
    for item in record["files"]:
        source = source_site / DATASETS / dataset / item["name"]
        digest = hashlib.sha256()
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise SiteError(f"{DATASETS}/{dataset}/{item['name']} ist nicht lesbar ({exc.strerror}); die "
                            f"Veröffentlichung wird abgebrochen, der Ordner bleibt unverändert.") from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise SiteError(f"{DATASETS}/{dataset}/{item['name']} ist keine gewöhnliche Datei.")
            data = fh.read()
        digest.update(data)
        if digest.hexdigest() != item["sha256"] or len(data) != item["bytes"]:
            raise SiteError(f"{DATASETS}/{dataset}/{item['name']} wurde nach der Veröffentlichung verändert "
                            f"(Prüfsumme weicht vom Manifest ab). Die Veröffentlichung wird abgebrochen, der Ordner "
                            f"bleibt unverändert: bitte „{dataset}“ neu veröffentlichen oder die Datei "
                            f"wiederherstellen (bif opendata validate zeigt alle Abweichungen).")
        write_private(target / item["name"], data, mode=FILE_MODE, durable=False)


def write_site_files(staging: Path, manifest: dict, turtle: bytes, jsonld: bytes) -> None:
    write_private(staging / "catalog.ttl", turtle, mode=FILE_MODE, durable=False)
    write_private(staging / "catalog.jsonld", jsonld, mode=FILE_MODE, durable=False)
    write_private(staging / "index.html", catalog_page(manifest).encode("utf-8"), mode=FILE_MODE, durable=False)
    write_private(staging / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()
                  + b"\n", mode=FILE_MODE, durable=False)


def _sync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(folder)


def swap_into_place(staging: Path, output: Path) -> None:
    """Make ``staging`` the site at ``output`` in one step; the old site is removed afterwards."""
    for folder, dirs, _ in os.walk(staging):
        os.chmod(folder, 0o755)
    _sync_tree(staging)
    if not output.exists():
        os.rename(staging, output)
    elif _exchange(staging, output):
        shutil.rmtree(staging)          # now the old site
    else:
        old = Path(tempfile.mkdtemp(prefix=OLD_PREFIX.format(name=output.name), dir=output.parent))
        os.rmdir(old)
        os.rename(output, old)
        os.rename(staging, output)
        shutil.rmtree(old)
    fsync_dir(output.parent)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux renameat2 with RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


# --- base URL ------------------------------------------------------------------------------------

def normal_base_url(url: str) -> str:
    """The public address of the site folder, ending in "/"; refused unless absolute http(s)."""
    text = (url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
            or any(c.isspace() or c in '<>"{}|\\^`' for c in text):
        raise SiteError(f"„{text[:120]}“ ist keine gültige Basis-URL: erwartet eine absolute http(s)-Adresse ohne "
                        f"?-Teil und #-Teil, z. B. https://opendata.stadt.de/bif/.")
    return text if text.endswith("/") else text + "/"


# --- the German catalog page ---------------------------------------------------------------------

def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _size(num_bytes: int) -> str:
    if num_bytes < 1000:
        return f"{format_number(num_bytes)} Bytes"
    if num_bytes < 1_000_000:
        return f"{format_number(num_bytes / 1000, 1)} kB"
    return f"{format_number(num_bytes / 1_000_000, 1)} MB"


def _german_date(iso: str | None) -> str:
    from datetime import date

    if not iso:
        return "–"
    return format_date(date.fromisoformat(iso))


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:62rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.5}
h1{font-size:1.7rem}h2{font-size:1.3rem;margin-top:2.5rem;border-top:1px solid #ccc;padding-top:1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #ccc;padding:.3rem .5rem;
text-align:left;vertical-align:top}code{font-size:.8rem;word-break:break-all}
.hinweis{background:#fff4ce;border-left:4px solid #c9a227;padding:.4rem .8rem}
nav ul{columns:2}footer{margin-top:3rem;font-size:.9rem;color:#555}
"""


def catalog_page(manifest: dict) -> str:
    """``index.html``: the German catalog of the site, every value escaped."""
    city = manifest["city"]
    records = [manifest["datasets"][k] for k in sorted(manifest["datasets"])]
    title = f"Offene Daten – {city['official_name']}"
    out = ["<!DOCTYPE html>", '<html lang="de">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_e(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>", "<header>",
           f"<h1>{_e(title)}</h1>",
           (f"<p>{_e(format_number(len(records)))} Datensätze aus der geprüften Datenbasis BIF der "
            f"{_e(city['official_name'])}. Jeder Datensatz steht als CSV- und Parquet-Datei bereit (Geodaten "
            f"zusätzlich als GeoJSON), beschrieben als Data Package mit SHA-256-Prüfsummen.</p>"),
           ('<p>Maschinenlesbarer Katalog nach DCAT-AP.de 3.0: <a href="catalog.ttl">catalog.ttl</a> (RDF/Turtle) · '
            '<a href="catalog.jsonld">catalog.jsonld</a> (JSON-LD).'
            + (f" Stand des Katalogs: {_e(format_local_datetime(manifest['updated_at']))} Uhr."
               if manifest.get("updated_at") else "") + "</p>"),
           "</header>"]
    if records:
        out.append('<nav aria-label="Datensätze"><h2>Datensätze</h2><ul>')
        out += [f'<li><a href="#{_e(r["dataset"])}">{_e(r["title"])}</a></li>' for r in records]
        out.append("</ul></nav>")
    else:
        out.append("<p>Noch keine Datensätze veröffentlicht.</p>")
    out.append("<main>")
    for record in records:
        out += _dataset_section(record, city)
    out.append("</main>")
    out.append(f"<footer><p>Erzeugt von BIF (bif opendata release). Herausgeber: {_e(city['official_name'])}. "
               f"Metadaten: DCAT-AP.de 3.0; Daten: Frictionless Data Package v2.</p></footer>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _licence_link(licence: dict) -> str:
    """The licence linked to its text — the address from BIF's own table, never from the manifest."""
    known = vocab.LICENCES.get(licence.get("key"))
    if known is None:
        return _e(licence.get("label"))
    return f'<a href="{_e(known.url)}">{_e(known.label)}</a>'


def _dataset_section(record: dict, city: dict) -> list[str]:
    dataset = record["dataset"]
    licence = record["licence"]
    out = [f'<section id="{_e(dataset)}">', f"<h2>{_e(record['title'])}</h2>"]
    if record.get("synthetic"):
        out.append('<p class="hinweis"><strong>Synthetische Daten:</strong> erzeugt von BIF, keine Angaben über '
                   'wirkliche Personen.</p>')
    out.append(f"<p>{_e(record['description'])}</p>")
    temporal = record.get("temporal") or {}
    period = "–"
    if temporal.get("start") or temporal.get("end"):
        period = f"{_german_date(temporal.get('start'))} bis {_german_date(temporal.get('end'))}"
    contact = record["contact"]
    mail = quote(contact["email"], safe="@.+-_")
    rows = [
        ("Datensatz", f"<code>{_e(dataset)}</code>, Version {_e(record['version'])}"),
        ("Herausgeber", _e(city["official_name"])),
        ("Kontakt", f'{_e(contact["name"])}, <a href="mailto:{_e(mail)}">{_e(contact["email"])}</a>'),
        ("Lizenz", _licence_link(licence)),
    ]
    if licence.get("attribution"):
        rows.append(("Namensnennung", _e(licence["attribution"])))
    rows += [
        ("Stand", _e(record.get("reference_date") or "–")),
        ("Zeitraum", _e(period)),
        ("Räumlicher Bezug", _e(f"{city['name']} (Gemeindeschlüssel {city['ags']})"
                                + (f"; {record['spatial_unit']}" if record.get("spatial_unit") else ""))),
        ("Aktualisierung", _e(vocab.FREQUENCY_LABELS.get(record["frequency"], record["frequency"]))),
        ("Eingespielt", _e(format_local_datetime(record["modified"]) + " Uhr")),
        ("Veröffentlicht", _e(format_local_datetime(record["released_at"]) + " Uhr")),
        ("Kategorien", _e(", ".join(vocab.THEMES.get(t, t) for t in record["themes"]))),
        ("Schlagwörter", _e(", ".join(record["keywords"]) or "–")),
        ("Zeilen", _e(format_number(record["rows"]))),
    ]
    if record.get("protection"):
        protection = record["protection"]
        rows.append(("Geheimhaltung", _e(f"von der Statistikstelle freigegeben ({protection['method']}, "
                                         f"{format_local_datetime(protection['released_at'])} Uhr)")))
    if record.get("geo"):
        rows.append(("Koordinaten", "WGS 84 (EPSG:4326, Länge/Breite); im Datenspeicher ETRS89/UTM 32N (EPSG:25832)"))
    out.append("<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>")
    out.append("<table><caption>Downloads</caption><thead><tr><th>Format</th><th>Datei</th><th>Größe</th>"
               "<th>SHA-256</th></tr></thead><tbody>")
    for item in record["files"]:
        href = f"{DATASETS}/{dataset}/{item['name']}"
        out.append(f"<tr><td>{_e(vocab.FILE_TYPES[item['kind']].label)}</td>"
                   f'<td><a href="{_e(href)}" download>{_e(item["name"])}</a></td>'
                   f"<td>{_e(_size(item['bytes']))}</td><td><code>{_e(item['sha256'])}</code></td></tr>")
    out.append("</tbody></table>")
    if record.get("fields"):
        out.append("<details><summary>Felder</summary><table><thead><tr><th>Feld</th><th>Bezeichnung</th>"
                   "<th>Einheit</th></tr></thead><tbody>")
        out += [f"<tr><td><code>{_e(f['name'])}</code></td><td>{_e(f.get('title', ''))}</td>"
                f"<td>{_e(f.get('unit', ''))}</td></tr>" for f in record["fields"]]
        out.append("</tbody></table></details>")
    out.append(f'<p>Metadaten: <a href="catalog.ttl">DCAT-AP.de (Turtle)</a> · <a href="catalog.jsonld">JSON-LD</a>'
               f' · <a href="{_e(DATASETS)}/{_e(dataset)}/datapackage.json">Data Package</a></p>')
    out.append("</section>")
    return out
