"""Fixtures for the planning apps in a real Chromium: a standalone Voilà on the bootstrapped
Flensburg store (see app_server.py) and a browser. Skipped without /usr/bin/chromium."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from app_server import CHROMIUM, block_external, start  # noqa: E402


@pytest.fixture(scope="module")
def app_server(flensburg_home):
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs /usr/bin/chromium")
    server = start(flensburg_home)
    yield server
    server.stop()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="de-DE", accept_downloads=True)
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    page.external_requests = []
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    block_external(page, page.external_requests)
    yield page
    ctx.close()
