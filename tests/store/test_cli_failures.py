"""Every failure a steward can cause or meet reaches them as a German message, never a traceback.

Each fault runs through the real ``bif`` command (a subprocess): disk full (a 1 MB tmpfs),
a read-only file system, no write permission (as the unprivileged user ``nobody``), a corrupted
catalog, too little memory for the file (a real address-space limit, and a MemoryError in the
middle of the validation), a contract with billion-laughs anchors, an unexpected internal error.
Each must end with exit code ≠ 0, a German message that names the file or resource, no
"Traceback" on stdout/stderr, the traceback in the operators' log (mode 0600), and — where
something was stored before — an unchanged store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from store_helpers import REPO, contract_dict, delivery, file_digests

GERMAN = ("Bitte", "bitte", "nicht", "Datei", "Katalog", "Speicher", "gespeichert", "Vertrag", " ist ")


def _german_failure(result, *expected: str) -> str:
    """Assert a refused command with a German message and no traceback; return stderr+stdout."""
    text = result.stderr + result.stdout
    assert result.returncode not in (0, None), text
    assert "Traceback" not in text, text
    assert any(word in text for word in GERMAN), text
    for part in expected:
        assert part in text, (part, text)
    return text


def _log_has_traceback(home: Path) -> None:
    log = home / "logs" / "bif-cli.log"
    assert log.is_file(), "the operators' log was not written"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "Traceback" in log.read_text(encoding="utf-8")


def _files(folder: Path, raw: dict, text: str) -> tuple[Path, Path]:
    contract = folder / f"{raw['id']}.yaml"
    contract.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    source = folder / "lieferung.csv"
    source.write_text(text, encoding="utf-8")
    return contract, source


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here ({done.stderr.strip()}); this test needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_full_is_german_and_stores_nothing(tmp_path, bif):
    home = tmp_path / "home"
    home.mkdir()
    with tmpfs(tmp_path / "voll", "1m") as mounted:
        store = mounted / "store"
        env = {"BIF_STORE": str(store)}
        contract, source = _files(tmp_path, contract_dict(), delivery(100))
        first = bif("ingest", contract, source, env=env)
        assert first.returncode == 0, first.stderr
        before = file_digests(store)
        filler = mounted / "ballast"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)  # fill the disk, then leave a few kilobytes:
        with contextlib.suppress(OSError):                       # too little for the next snapshot
            while True:
                os.write(fd, b"\0" * 4096)
        os.close(fd)
        os.truncate(filler, max(filler.stat().st_size - 40_000, 0))
        big = tmp_path / "gross.csv"
        big.write_text(delivery(200, rows=20_000), encoding="utf-8")
        result = bif("ingest", contract, big, env=env)
        _german_failure(result, "kein Platz mehr auf dem Datenträger", "nichts gespeichert", str(store))
        assert file_digests(store) == before                      # v1 intact, no half-written v2
        assert not any((store / "open" / ".staging").iterdir())
        assert bif("catalog", "verify", env=env).returncode == 0
    _log_has_traceback(home)


def test_read_only_file_system_is_german(tmp_path, bif):
    with tmpfs(tmp_path / "ro", "20m") as mounted:
        env = {"BIF_STORE": str(mounted / "store")}
        contract, source = _files(tmp_path, contract_dict(), delivery(100))
        assert bif("ingest", contract, source, env=env).returncode == 0
        before = file_digests(mounted / "store")
        subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True)
        contract, source = _files(tmp_path, contract_dict(), delivery(200))
        _german_failure(bif("ingest", contract, source, env=env), "schreibgeschützt")
        assert file_digests(mounted / "store") == before


def test_no_write_permission_is_german(bif):
    if not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is needed to run bif as another user")
    folder = Path(tempfile.mkdtemp(prefix="bif-rechte-"))
    try:
        os.chmod(folder, 0o755)
        home = folder / "home"
        env = {"BIF_HOME": str(home), "BIF_STORE": str(home / "store")}
        contract, source = _files(folder, contract_dict(), delivery(100))
        assert bif("ingest", contract, source, env=env).returncode == 0  # as root: the store exists
        for path in [folder, *folder.rglob("*")]:
            os.chmod(path, (path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0)) & ~0o022)
        before = file_digests(home / "store")
        contract, source = _files(folder, contract_dict(), delivery(200))
        os.chmod(contract, 0o644)
        os.chmod(source, 0o644)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                   "bif_lib.cli", "ingest", str(contract), str(source)]
        result = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=120,
                                env={**os.environ, **env, "PYTHONPATH": str(REPO), "HOME": "/nonexistent"})
        text = _german_failure(result, "keine Schreibrechte", str(home / "store"))
        assert "Technische Einzelheiten für den Betrieb: /tmp/bif-65534/bif-cli.log" in text  # per-user fallback
        assert file_digests(home / "store") == before
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree("/tmp/bif-65534", ignore_errors=True)


def test_corrupted_catalog_is_german_everywhere(tmp_path, bif):
    contract, source = _files(tmp_path, contract_dict(), delivery(100))
    assert bif("ingest", contract, source).returncode == 0
    catalog = tmp_path / "home" / "store" / "catalog.sqlite"
    catalog.write_bytes(b"kaputt" * 2000)
    for argv in (("catalog", "verify"), ("catalog", "list"), ("catalog", "show", "einwohner"),
                 ("ingest", contract, source)):
        _german_failure(bif(*argv), "beschädigt", "bif catalog rebuild", str(catalog))


def test_file_too_large_for_the_memory_is_refused_in_german(tmp_path, bif):
    """A real address-space limit (like a 3 GB machine for a 500 MB file, scaled down): the ingest is
    refused from the estimate before reading, naming the file, its size and what limits memory."""
    contract, source = _files(tmp_path, contract_dict(), delivery(100, rows=1_000_000))
    script = ("import resource, sys\n"
              "from pathlib import Path\n"
              "import bif_lib.cli, bif_lib.ingest, bif_lib.readers\n"
              "bif_lib.cli.build_parser()  # every module imported before the limit\n"
              "size = next(int(l.split()[1]) * 1024 for l in Path('/proc/self/status').read_text().splitlines()"
              " if l.startswith('VmSize:'))\n"
              "resource.setrlimit(resource.RLIMIT_AS, (size + 150 * 2**20, resource.RLIM_INFINITY))\n"
              "sys.exit(bif_lib.cli.main(sys.argv[1:]))\n")
    result = subprocess.run([sys.executable, "-c", script, "ingest", str(contract), str(source)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    _german_failure(result, "lieferung.csv", "Arbeitsspeicher", "ulimit -v", "nichts gespeichert")

    configured = _german_failure(bif("ingest", contract, source, env={"BIF_MAX_MEMORY": "20M"}), "BIF_MAX_MEMORY=20M")
    assert "MB" in configured


def test_memory_error_during_validation_is_german(tmp_path, bif):
    (tmp_path / "home").mkdir()
    contract, source = _files(tmp_path, contract_dict(), delivery(100))
    script = ("import sys\n"
              "import bif_lib.cli\n"
              "from bif_lib.validation import engine\n"
              "def out_of_memory(*args, **kwargs):\n"
              "    raise MemoryError()\n"
              "engine.Validator.validate = out_of_memory\n"
              "sys.exit(bif_lib.cli.main(sys.argv[1:]))\n")
    result = subprocess.run([sys.executable, "-c", script, "ingest", str(contract), str(source)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    _german_failure(result, "Nicht genug Arbeitsspeicher", "lieferung.csv")
    _log_has_traceback(tmp_path / "home")


def test_billion_laughs_contract_is_refused_quickly_and_briefly(tmp_path, bif):
    levels = ["a: &a [" + ",".join(['"lol"'] * 9) + "]"]
    for previous, name in zip("abcdefgh", "bcdefghi"):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    bomb = tmp_path / "bombe.yaml"
    bomb.write_text("\n".join(levels) + "\nid: [*i]\n", encoding="utf-8")
    assert bomb.stat().st_size < 4000
    for argv in (("contract", "check", bomb), ("ingest", bomb, tmp_path / "egal.csv")):
        result = bif(*argv, timeout=30)
        text = _german_failure(result, "bombe.yaml", "Anker", "aufblähen")
        assert len(text) < 2000  # the message names the problem, it does not expand it


def test_deeply_nested_and_oversized_contracts_are_refused(tmp_path, bif):
    deep = tmp_path / "tief.yaml"
    deep.write_text("id: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    _german_failure(bif("contract", "check", deep), "tief.yaml", "zu tief verschachtelt")
    big = tmp_path / "riesig.yaml"
    big.write_text("id: x\n" + "# Kommentar\n" * 200_000, encoding="utf-8")
    _german_failure(bif("contract", "check", big), "riesig.yaml", "höchstens")


def test_unexpected_error_is_german_with_a_log_for_operators(tmp_path, bif):
    script = ("import sys\n"
              "import bif_lib.cli, bif_lib.api\n"
              "def broken(*args, **kwargs):\n"
              "    raise ValueError('interner Zustand kaputt')\n"
              "bif_lib.api.list_datasets = broken\n"
              "sys.exit(bif_lib.cli.main(sys.argv[1:]))\n")
    (tmp_path / "home").mkdir()
    result = subprocess.run([sys.executable, "-c", script, "catalog", "list"], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    text = _german_failure(result, "Unerwarteter interner Fehler", "bif-cli.log")
    assert result.returncode == 70
    assert str(tmp_path / "home" / "logs" / "bif-cli.log") in text
    _log_has_traceback(tmp_path / "home")
    assert stat.S_IMODE((tmp_path / "home" / "logs").stat().st_mode) == 0o700


def test_usage_errors_are_german(bif):
    result = bif("ingest")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "es fehlen Angaben: contract, file" in result.stderr and "Aufruf:" in result.stderr
    result = bif("catalog", "show", "x", "--version", "zwei")
    assert result.returncode == 2 and "ist keine ganze Zahl" in result.stderr
