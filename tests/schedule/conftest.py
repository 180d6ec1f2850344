"""Fixtures for the scheduled refresh: a platform home with a copy of the bootstrapped Flensburg
store, an editable copy of the city profile and of the mirror, settings, and a real SMTP server."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from schedule_paths import RESIDENTS, free_port  # noqa: E402,F401

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Env:
    """A BIF installation for one test: ``home`` (0755, below /tmp: the publication sandbox's account
    must reach the store), its ``settings``, the city profile ``contracts`` and the ``mirror``."""

    home: Path
    contracts: Path
    mirror: Path
    settings_file: Path
    overrides: dict = field(default_factory=dict)

    @property
    def profile(self) -> Path:
        return self.contracts / "flensburg"

    @property
    def settings(self):
        from bif_lib.platform.settings import load_settings

        return load_settings(self.settings_file, environ={})

    @property
    def store(self):
        from bif_lib.store import Store

        return Store(self.home / "store")

    def contract(self, dataset: str) -> Path:
        return self.profile / f"{dataset}.yaml"

    def schedule(self, dataset: str, block: dict) -> None:
        """Put ``dataset`` on a schedule in its contract."""
        path = self.contract(dataset)
        text = path.read_text(encoding="utf-8")
        path.write_text(text.rstrip("\n") + "\n\n" + yaml.safe_dump({"refresh": block}, allow_unicode=True),
                        encoding="utf-8")

    def unpin(self, source_path: str) -> None:
        """Mark a source file in city.yaml as meant to change: ``pin: false`` with a "latest" URL
        instead of a pinned one (the tests take it from the mirror)."""
        city = self.profile / "city.yaml"
        data = yaml.safe_load(city.read_text(encoding="utf-8"))
        for entry in data["sources"]:
            if entry["path"] == source_path:
                entry.pop("upstream", None)
                entry.update(pin=False, url=f"https://daten.flensburg.example/aktuell/{source_path}")
        city.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    def change_source(self, source_path: str, old: str, new: str) -> None:
        path = self.mirror / source_path
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {path}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def write_settings(self, overrides: dict | None = None) -> None:
        from bif_lib.platform.settings import DEFAULT_SETTINGS_FILE, deep_merge

        self.overrides = deep_merge(self.overrides, overrides or {})
        data = yaml.safe_load(DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8"))
        data = deep_merge(data, {
            # ports nobody listens on: re-publishing must not find (or disturb) a running apps service
            "apps": {"port": free_port(), "voila_port": free_port(), "publish_timeout": 120},
            "paths": {"home": str(self.home), "store": str(self.home / "store")},
        })
        data = deep_merge(data, self.overrides)
        self.settings_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture
def env(flensburg_home, mirror_dir, monkeypatch) -> Env:
    """A copy of the bootstrapped store and of the Flensburg profile and mirror, with BIF_HOME,
    BIF_CONTRACTS, BIF_MIRROR and BIF_HUB_SETTINGS pointing at them (also for child processes)."""
    root = Path(tempfile.mkdtemp(prefix="bif-schedule-", dir="/tmp"))
    os.chmod(root, 0o755)
    home = root / "home"
    home.mkdir(mode=0o755)
    shutil.copytree(flensburg_home / "store", home / "store", symlinks=True)
    shutil.copytree(REPO / "data_contracts" / "flensburg", root / "contracts" / "flensburg")
    shutil.copytree(mirror_dir, root / "mirror")
    environment = Env(home, root / "contracts", root / "mirror", home / "settings.yaml")
    environment.write_settings()
    monkeypatch.setenv("BIF_HOME", str(home))
    monkeypatch.delenv("BIF_STORE", raising=False)
    monkeypatch.setenv("BIF_CONTRACTS", str(environment.contracts))
    monkeypatch.setenv("BIF_MIRROR", str(environment.mirror))
    monkeypatch.setenv("BIF_HUB_SETTINGS", str(environment.settings_file))
    monkeypatch.setenv("BIF_CITY", "flensburg")
    yield environment
    shutil.rmtree(root, ignore_errors=True)


# --- a real SMTP server -------------------------------------------------------------------------------

class Inbox:
    """What the SMTP server received: (envelope recipients, parsed message) per mail."""

    def __init__(self):
        self.mails: list[tuple[list[str], object]] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.mails.append((list(envelope.rcpt_tos), message))
        self.arrived.set()
        return "250 OK"


@pytest.fixture
def smtp_server():
    """aiosmtpd listening on 127.0.0.1 (a real SMTP conversation, no mock); yields (port, inbox)."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()
