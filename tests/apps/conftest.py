"""Fixtures for the apps tests: a scratch BIF_HOME and its registry. Notebook builders are
in ``apps_helpers.py``, the real hub + proxy + service for integration tests in ``apps_hub.py``."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session", autouse=True)
def _service_account_runs_python(environment_access):
    """The app service account must be able to run this Python (tests/conftest.py)."""
    yield environment_access


@pytest.fixture
def apps_home():
    """A BIF_HOME the app service account can traverse (pytest's tmp_path is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="bif-apps-unit-", dir="/tmp"))
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cfg(apps_home):
    from bif_lib.apps.config import AppsConfig

    # ports nobody listens on: publishing must not find (or disturb) a running service
    return AppsConfig(home=str(apps_home), store=str(apps_home / "store"), port=1, voila_port=1,
                      publish_timeout=60)


@pytest.fixture
def registry(cfg):
    from bif_lib.apps.registry import Registry

    return Registry(cfg.apps_dir)
