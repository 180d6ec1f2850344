"""Publishing from JupyterLab: ``publish_from_lab("Schulbedarf.ipynb")``.

Analysts call this in a notebook cell or a terminal of their JupyterLab server. It sends
the notebook (without outputs) to the apps service, which checks and publishes it; the
hub identifies the caller by the server's API token (``$JUPYTERHUB_API_TOKEN``), which
must carry the scope ``custom:bif-apps:publish``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from bif_lib.apps.config import SERVICE_NAME, AppsConfig


class LabPublishError(RuntimeError):
    """Refused or failed; ``reasons`` lists the German reasons."""

    def __init__(self, message: str, reasons: list[str] | None = None):
        super().__init__(message)
        self.reasons = reasons or []


def _service_url() -> str:
    """Where the apps service listens: ``$BIF_APPS_URL``, else the platform settings."""
    if os.environ.get("BIF_APPS_URL"):
        return os.environ["BIF_APPS_URL"].rstrip("/")
    cfg = AppsConfig.current()
    return cfg.local_url + cfg.service_prefix.rstrip("/")


def _strip(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def publish_from_lab(path: str | os.PathLike, *, app_id: str | None = None, token: str | None = None,
                     url: str | None = None, timeout: float = 600) -> dict:
    """Publish the notebook at ``path``; return the service's answer (app_id, version, url).

    Raises ``LabPublishError`` with the German reasons if the publication is refused.
    Save the notebook first: the file on disk is what gets published.
    """
    path = Path(path)
    nb = _strip(json.loads(path.read_text(encoding="utf-8")))
    token = token or os.environ.get("JUPYTERHUB_API_TOKEN")
    if not token:
        raise LabPublishError("Kein Hub-Token gefunden (JUPYTERHUB_API_TOKEN): publish_from_lab läuft nur "
                              "in einem JupyterLab-Server des Hubs.")
    base = (url or _service_url()).rstrip("/")
    if not base.endswith(f"/services/{SERVICE_NAME}"):
        base += f"/services/{SERVICE_NAME}"
    body = json.dumps({"notebook": nb, "filename": path.name, "app_id": app_id}).encode()
    req = urllib.request.Request(f"{base}/api/publish", data=body, method="POST",
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        try:
            answer = json.loads(e.read())
        except ValueError:
            answer = {}
        reasons = answer.get("reasons") or [answer.get("error") or f"HTTP {e.code}"]
        raise LabPublishError(answer.get("message") or "Veröffentlichung abgelehnt: " + "; ".join(reasons),
                              reasons) from None
    except urllib.error.URLError as e:
        raise LabPublishError(f"Der App-Dienst ist nicht erreichbar ({base}): {e.reason}") from None
    print(f"Veröffentlicht: {answer['app_id']} Version {answer['version']} – {answer['url']}")
    return answer
