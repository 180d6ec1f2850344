"""The participants' work as a zip: only their own files, never through a link, bounded,
written atomically."""

from __future__ import annotations

import datetime as dt
import errno
import os
import stat
import zipfile
from pathlib import Path

import pytest

from bif_lib.training import archive
from bif_lib.training.archive import ArchiveError, MiB, archive_homes, safe_component

CREATED = dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)  # 12:00 in Flensburg (summer time)
NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
IS_ROOT = os.geteuid() == 0


def write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def reasons(report) -> dict[str, str]:
    return {f"{s.participant}/{s.path}" if s.path else s.participant: s.reason for s in report.skipped}


def zip_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        return set(zf.namelist())


@pytest.fixture
def outside(tmp_path) -> Path:
    """Something that is not the participant's: it must never end up in the archive."""
    folder = tmp_path / "outside"
    write(folder / "leak.ipynb", b"LEAK")
    write(folder / "leak.txt", b"LEAK")
    return folder


@pytest.fixture
def alice(tmp_path, outside) -> Path:
    home = tmp_path / "homes" / "grundkurs-01"
    write(home / "analyse.ipynb", NOTEBOOK)
    write(home / "notizen.md", "# Notizen\nÄrger mit Umlauten: ö ü ß\n".encode())
    write(home / "Vorlagen" / "Schulung" / "01-einstieg.ipynb", NOTEBOOK)
    write(home / "daten" / "tabelle.csv", b"a;b\n1;2\n")
    write(home / "daten" / "tief" / "ergebnis.png", b"\x89PNG\r\n\x1a\n")
    write(home / "skript.py", b"print('hallo')\n")
    write(home / "liste.xlsx", b"PK\x03\x04")
    write(home / "liesmich.txt", b"text")
    write(home / "foto.jpg", b"JPEG")  # not a kind of file the archive collects
    write(home / "bibliothek.so", b"ELF")
    # hidden: never archived, never listed
    write(home / ".ipynb_checkpoints" / "analyse-checkpoint.ipynb", NOTEBOOK)
    write(home / ".local" / "share" / "jupyter" / "x.py")
    write(home / ".cache" / "pip" / "y.txt")
    write(home / ".bif" / "token.txt", b"SECRET")
    write(home / ".tmp" / "z.csv")
    write(home / ".versteckt.ipynb", NOTEBOOK)
    write(home / "daten" / ".geheim.csv")
    # hostile: links out of the home, special files, huge files, names with "..", "\" and ":"
    os.symlink("/etc/shadow", home / "shadow.txt")
    os.symlink(outside, home / "ausserhalb")  # a directory link pointing outside
    os.symlink(outside / "leak.ipynb", home / "daten" / "link.ipynb")
    os.mkfifo(home / "pipe.txt")
    with open(home / "riesig.csv", "wb") as fh:  # sparse: 60 MiB on paper, nothing on disk
        fh.truncate(60 * MiB)
    write(home / "a..b.py", b"dots")
    write(home / "x\\..\\..\\evil.py", b"backslashes")
    write(home / "C:boot.txt", b"drive")
    write(home / "con.txt", b"device name")
    write(home / "Notiz.MD", b"upper case suffix")
    return home


def test_archive_contains_the_participants_work_and_nothing_else(tmp_path, alice, outside):
    target = tmp_path / "archiv" / "grundkurs.zip"
    target.parent.mkdir()
    homes = {"grundkurs-01": alice, "grundkurs-02": tmp_path / "homes" / "grundkurs-02"}  # the second is missing

    report = archive_homes(homes, target, cohort="grundkurs", created=CREATED)

    files = {
        "grundkurs-01/analyse.ipynb", "grundkurs-01/notizen.md", "grundkurs-01/Vorlagen/Schulung/01-einstieg.ipynb",
        "grundkurs-01/daten/tabelle.csv", "grundkurs-01/daten/tief/ergebnis.png", "grundkurs-01/skript.py",
        "grundkurs-01/liste.xlsx", "grundkurs-01/liesmich.txt", "grundkurs-01/a..b.py",
        "grundkurs-01/x_.._.._evil.py", "grundkurs-01/C_boot.txt", "grundkurs-01/_con.txt",
        "grundkurs-01/Notiz.MD",
    }
    assert zip_names(target) == files | {"README.txt"}
    assert not any(name.startswith("grundkurs-02") for name in zip_names(target))
    with zipfile.ZipFile(target) as zf:
        assert zf.read("grundkurs-01/analyse.ipynb") == NOTEBOOK
        assert zf.read("grundkurs-01/notizen.md").decode() == "# Notizen\nÄrger mit Umlauten: ö ü ß\n"
        assert zf.read("grundkurs-01/x_.._.._evil.py") == b"backslashes"
        assert b"LEAK" not in b"".join(zf.read(n) for n in zf.namelist())
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in zf.infolist())

    assert report.path == target
    assert report.files == {"grundkurs-01": len(files)}
    assert report.missing == ["grundkurs-02"]
    with zipfile.ZipFile(target) as zf:
        assert report.total_bytes == sum(i.file_size for i in zf.infolist() if i.filename != "README.txt")
    assert not report.limit_reached
    assert reasons(report) == {
        "grundkurs-01/shadow.txt": "symbolische Verknüpfung übersprungen",
        "grundkurs-01/ausserhalb": "symbolische Verknüpfung übersprungen",
        "grundkurs-01/daten/link.ipynb": "symbolische Verknüpfung übersprungen",
        "grundkurs-01/pipe.txt": "keine normale Datei (z. B. FIFO, Gerät, Socket) übersprungen",
        "grundkurs-01/riesig.csv": "zu groß (60,0 MB, höchstens 50,0 MB) – übersprungen",
        "grundkurs-02": "kein Heimatverzeichnis gefunden – nichts archiviert",
    }


def test_names_in_the_zip_are_relative_and_safe(tmp_path, alice):
    target = tmp_path / "a.zip"
    archive_homes({"grundkurs-01": alice}, target)

    for name in zip_names(target):
        parts = name.split("/")
        assert not name.startswith("/") and "\\" not in name and ":" not in name
        assert ".." not in parts and "." not in parts and "" not in parts
        assert name == "README.txt" or parts[0] == "grundkurs-01"


def test_archive_is_private_and_nothing_else_is_left(tmp_path, alice):
    folder = tmp_path / "archiv"
    folder.mkdir()
    old = os.umask(0)  # whatever the umask allows
    try:
        archive_homes({"grundkurs-01": alice}, folder / "grundkurs.zip")
    finally:
        os.umask(old)

    assert os.listdir(folder) == ["grundkurs.zip"]  # no temporary file
    assert stat.S_IMODE((folder / "grundkurs.zip").stat().st_mode) == 0o600


def test_readme_says_who_when_and_what_was_left_out(tmp_path, alice):
    target = tmp_path / "grundkurs.zip"
    homes = {"grundkurs-01": alice, "grundkurs-02": tmp_path / "fehlt"}
    archive_homes(homes, target, cohort="grundkurs", created=CREATED)

    with zipfile.ZipFile(target) as zf:
        readme = zf.read("README.txt").decode("utf-8")
    assert "\r\n" in readme  # readable in Windows' editor
    assert readme.startswith("Schulung grundkurs: Arbeiten der Teilnehmenden\r\n")
    assert "Erstellt am 01.07.2026 12:00 Uhr (Europe/Berlin)." in readme
    assert "  grundkurs-01: 13 Dateien\r\n" in readme
    assert "  grundkurs-02: kein Heimatverzeichnis gefunden\r\n" in readme
    assert "Nicht archiviert:\r\n" in readme
    assert "  grundkurs-01/shadow.txt: symbolische Verknüpfung übersprungen\r\n" in readme
    assert "  grundkurs-01/riesig.csv: zu groß (60,0 MB, höchstens 50,0 MB) – übersprungen\r\n" in readme
    assert ".ipynb_checkpoints" not in readme and "token" not in readme


def test_empty_homes_give_a_zip_with_the_readme_only(tmp_path):
    home = tmp_path / "leer"
    home.mkdir()
    report = archive_homes({"kurs-01": home}, tmp_path / "k.zip", created=CREATED)

    assert zip_names(tmp_path / "k.zip") == {"README.txt"}
    assert report.files == {"kurs-01": 0} and report.skipped == [] and report.total_bytes == 0
    with zipfile.ZipFile(tmp_path / "k.zip") as zf:
        readme = zf.read("README.txt").decode()
    assert readme.startswith("Arbeiten der Teilnehmenden\r\n") and "Nichts wurde ausgelassen." in readme


def test_a_home_that_is_a_symlink_is_not_followed(tmp_path, outside):
    os.symlink(outside, tmp_path / "kurs-01")
    report = archive_homes({"kurs-01": tmp_path / "kurs-01"}, tmp_path / "k.zip")

    assert zip_names(tmp_path / "k.zip") == {"README.txt"}
    assert reasons(report) == {"kurs-01": "Heimatverzeichnis ist eine symbolische Verknüpfung – nichts archiviert"}


def test_total_limit_stops_the_archive(tmp_path):
    first, second = tmp_path / "kurs-01", tmp_path / "kurs-02"
    for name in ("a.txt", "b.txt", "c.txt"):
        write(first / name, b"x" * 400)
    write(second / "d.txt", b"y")

    report = archive_homes({"kurs-01": first, "kurs-02": second}, tmp_path / "k.zip", max_total_bytes=1000)

    assert zip_names(tmp_path / "k.zip") == {"README.txt", "kurs-01/a.txt", "kurs-01/b.txt"}
    assert report.limit_reached and report.total_bytes == 800
    assert report.files == {"kurs-01": 2}
    assert reasons(report) == {
        "kurs-01/c.txt": "Obergrenze von 0,0 MB für das ganze Archiv erreicht – ab hier nichts mehr archiviert",
        "kurs-02": "Obergrenze des Archivs erreicht – nicht archiviert",
    }
    with zipfile.ZipFile(tmp_path / "k.zip") as zf:
        readme = zf.read("README.txt").decode()
    assert "Obergrenze für das Archiv wurde erreicht, es ist unvollständig" in readme
    assert "  kurs-02: nichts archiviert" in readme


def test_file_count_limit_and_file_size_limit(tmp_path):
    home = tmp_path / "kurs-01"
    write(home / "a.txt", b"1")
    write(home / "b.txt", b"2" * 2048)
    write(home / "c.txt", b"3")

    report = archive_homes({"kurs-01": home}, tmp_path / "k.zip", max_file_bytes=1024, max_files=1)

    assert zip_names(tmp_path / "k.zip") == {"README.txt", "kurs-01/a.txt"}
    assert reasons(report) == {
        "kurs-01/b.txt": "zu groß (0,0 MB, höchstens 0,0 MB) – übersprungen",
        "kurs-01/c.txt": "Obergrenze von 1 Dateien erreicht – ab hier nichts mehr archiviert",
    }


def test_deep_folders_are_cut_off(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_DEPTH", 2)
    home = tmp_path / "kurs-01"
    write(home / "a" / "b" / "ok.txt")
    write(home / "a" / "b" / "c" / "zu-tief.txt")

    report = archive_homes({"kurs-01": home}, tmp_path / "k.zip")

    assert zip_names(tmp_path / "k.zip") == {"README.txt", "kurs-01/a/b/ok.txt"}
    assert reasons(report) == {"kurs-01/a/b/c": "mehr als 2 Ordner tief verschachtelt – übersprungen"}


def test_names_that_clash_after_cleaning_are_kept_apart(tmp_path):
    home = tmp_path / "kurs-01"
    write(home / "a:b.txt", b"1")
    write(home / "a_b.txt", b"2")
    write(home / "A_B.txt", b"3")  # Windows does not tell case apart

    archive_homes({"kurs-01": home}, tmp_path / "k.zip")

    with zipfile.ZipFile(tmp_path / "k.zip") as zf:
        contents = {name: zf.read(name) for name in zf.namelist() if name != "README.txt"}
    assert sorted(contents.values()) == [b"1", b"2", b"3"]
    assert len({name.lower() for name in contents}) == 3


def test_undecodable_file_names_are_archived_readably(tmp_path):
    home = tmp_path / "kurs-01"
    home.mkdir()
    with open(os.path.join(os.fsencode(home), b"caf\xe9.txt"), "wb") as fh:  # Latin-1, not UTF-8
        fh.write(b"latin")

    archive_homes({"kurs-01": home}, tmp_path / "k.zip")

    with zipfile.ZipFile(tmp_path / "k.zip") as zf:
        assert zf.read("kurs-01/caf\ufffd.txt") == b"latin"


@pytest.mark.parametrize(("name", "safe"), [
    ("analyse.ipynb", "analyse.ipynb"), ("..", "_"), (".", "_"), ("", "_"), ("a/b", "a_b"),
    ("..\\..\\x.py", ".._.._x.py"), ("C:", "C_"), ("NUL", "_NUL"), ("com1.txt", "_com1.txt"),
    ("ende. ", "ende"), ("tab\there", "tab_here"), ("Übersicht.md", "Übersicht.md"),
])
def test_safe_component(name, safe):
    assert safe_component(name) == safe


@pytest.mark.timeout(60)
def test_entries_swapped_during_the_walk_are_not_followed(tmp_path, outside, monkeypatch):
    """Between listing a folder and opening an entry, its owner replaces a folder and a file by
    symlinks and a notebook by a FIFO: nothing outside is read, and nothing blocks."""
    home = tmp_path / "kurs-01"
    write(home / "daten" / "t.csv")
    write(home / "notizen.md")
    write(home / "analyse.ipynb")
    write(home / "bleibt.txt", b"ok")
    real_scandir = os.scandir

    class Listing:
        def __init__(self, entries):
            self.entries = entries

        def __enter__(self):
            return iter(self.entries)

        def __exit__(self, *exc):
            return False

    def scandir_then_swap(fd):
        with real_scandir(fd) as it:
            entries = list(it)
        if {e.name for e in entries} >= {"daten", "notizen.md"}:
            for name in ("daten", "notizen.md", "analyse.ipynb"):
                path = home / name
                if path.is_dir():
                    for child in path.iterdir():
                        child.unlink()
                    path.rmdir()
                else:
                    path.unlink()
            os.symlink(outside, home / "daten")
            os.symlink(outside / "leak.txt", home / "notizen.md")
            os.mkfifo(home / "analyse.ipynb")
        return Listing(entries)

    monkeypatch.setattr(archive.os, "scandir", scandir_then_swap)
    report = archive_homes({"kurs-01": home}, tmp_path / "k.zip")
    monkeypatch.undo()

    assert zip_names(tmp_path / "k.zip") == {"README.txt", "kurs-01/bleibt.txt"}
    assert reasons(report) == {
        "kurs-01/daten": "symbolische Verknüpfung übersprungen",
        "kurs-01/notizen.md": "symbolische Verknüpfung übersprungen",
        "kurs-01/analyse.ipynb": "keine normale Datei (z. B. FIFO, Gerät, Socket) übersprungen",
    }


@pytest.mark.skipif(not IS_ROOT, reason="needs root to give a file to another account")
def test_files_of_other_accounts_are_skipped(tmp_path):
    """A hard link to someone else's file (say /etc/shadow, where hard links are not protected)
    is a regular file in the home: its owner gives it away."""
    home = tmp_path / "kurs-01"
    write(home / "eigen.txt", b"mine")
    foreign = write(tmp_path / "fremd.txt", b"SECRET")
    os.chown(foreign, 54321, 54321)
    os.link(foreign, home / "verlinkt.txt")

    report = archive_homes({"kurs-01": home}, tmp_path / "k.zip")

    assert zip_names(tmp_path / "k.zip") == {"README.txt", "kurs-01/eigen.txt"}
    assert reasons(report) == {"kurs-01/verlinkt.txt": "gehört nicht diesem Konto – übersprungen"}


# --- failures: a clean German error, nothing left behind -----------------------------------------

def test_missing_target_folder(tmp_path, alice):
    with pytest.raises(ArchiveError, match="kann in .* nicht angelegt werden: Ordner nicht gefunden") as caught:
        archive_homes({"grundkurs-01": alice}, tmp_path / "gibt-es-nicht" / "k.zip")
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOENT
    assert not (tmp_path / "gibt-es-nicht").exists()


def test_a_failed_write_leaves_no_file_and_keeps_the_old_archive(tmp_path, alice, monkeypatch):
    folder = tmp_path / "archiv"
    folder.mkdir()
    target = folder / "grundkurs.zip"
    target.write_bytes(b"the previous archive")
    seen = []
    real_writestr = zipfile.ZipFile.writestr

    def disk_full_on_the_third(self, info, data, *args, **kwargs):
        temporary = [p for p in folder.iterdir() if p != target]
        seen.append([(p.name, stat.S_IMODE(p.stat().st_mode)) for p in temporary])
        if len(seen) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_writestr(self, info, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", disk_full_on_the_third)
    with pytest.raises(ArchiveError) as caught:
        archive_homes({"grundkurs-01": alice}, target)

    assert str(caught.value) == "Das Archiv grundkurs.zip konnte nicht geschrieben werden: kein Speicherplatz mehr frei"
    assert caught.value.errno == errno.ENOSPC  # lifecycle code catches OSError
    assert os.listdir(folder) == ["grundkurs.zip"] and target.read_bytes() == b"the previous archive"
    # while it was written: one hidden temporary file beside the target, readable by root only
    assert all(len(files) == 1 and files[0][0].startswith(".grundkurs.zip.") and files[0][1] == 0o600
               for files in seen)


def test_target_that_is_a_folder(tmp_path, alice):
    (tmp_path / "k.zip").mkdir()
    with pytest.raises(ArchiveError, match="konnte nicht geschrieben werden: dort ist ein Ordner"):
        archive_homes({"grundkurs-01": alice}, tmp_path / "k.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["homes", "k.zip", "outside"]


@pytest.mark.skipif(IS_ROOT, reason="root writes into read-only folders; see the disk-full test")
def test_read_only_target_folder(tmp_path, alice):
    folder = tmp_path / "archiv"
    folder.mkdir(mode=0o500)
    try:
        with pytest.raises(ArchiveError, match="nicht angelegt werden: keine Berechtigung"):
            archive_homes({"grundkurs-01": alice}, folder / "k.zip")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)
