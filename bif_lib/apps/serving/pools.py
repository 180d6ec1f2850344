"""Tell the running Voilà to rebuild an app's pool of preheated kernels.

A preheated kernel has already executed the notebook *as it was when the kernel was
started*; Voilà never notices that the file changed. After publishing or rolling back,
the pooled kernels of that app are therefore replaced (``voila_server.PoolHandler``).
Kernels already in use by people keep running the version they opened.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

from bif_lib.apps.config import AppsConfig

log = logging.getLogger("bif.apps.pools")


def _request(cfg: AppsConfig, method: str, app_id: str, body: dict | None = None) -> dict | None:
    try:
        token = cfg.voila_token_file.read_text().strip()
    except (FileNotFoundError, PermissionError):
        return None  # service not running (or started by someone else): nothing to refresh
    req = urllib.request.Request(
        f"{cfg.voila_url}/bif/pools/{app_id}", method=method,
        data=None if method == "GET" else json.dumps(body or {}).encode(), headers={"Authorization": f"token {token}",
                                                      "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        log.warning("Voilà refused pool %s of %s: HTTP %s", method, app_id, e.code)
        return None
    except (urllib.error.URLError, OSError) as e:
        log.info("Voilà not reachable for pool %s of %s: %s", method, app_id, e)
        return None


def refresh_pool(cfg: AppsConfig, app_id: str, pool_size: int | None = None) -> bool:
    """Replace the app's pooled kernels; True if Voilà confirmed."""
    size = cfg.pool_size if pool_size is None else pool_size
    return _request(cfg, "POST", app_id, {"pool_size": size}) is not None


def drop_pool(cfg: AppsConfig, app_id: str) -> bool:
    return _request(cfg, "DELETE", app_id) is not None


def pool_status(cfg: AppsConfig, app_id: str) -> dict | None:
    return _request(cfg, "GET", app_id)
