"""After a new version: publish the apps that use the dataset again, so the gallery shows fresh results.

The registry records, for each published version of an app, the datasets and versions its check
run loaded (``meta.json`` → ``datasets``, ``bif_lib.apps.publishing.publish``). An app whose live
version loaded an older version of the refreshed dataset is checked and published again from its
live notebook, exactly as ``bif publish`` does (sandbox, classification checks, thumbnail, the
apps service asked to replace its pooled kernels). An app that fails the check keeps its live
version; the failure is reported like a failed refresh.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Callable, Iterator

from bif_lib import config

log = logging.getLogger("bif.schedule")


@contextlib.contextmanager
def readers_role(settings) -> Iterator[None]:
    """While apps are checked: the catalog's readers' role, as in the apps service. The check runs
    the app's code and is handed the catalog's connection (``apps.publishing.execute``); it must
    never get the writers' role this process ingests with."""
    from bif_lib.platform.settings import catalog_env

    keys = (config.CATALOG_URL_ENV, config.CATALOG_USER_ENV, config.CATALOG_PASSWORD_ENV)
    reader = catalog_env({}, settings)
    with config.environment({key: reader.get(key) for key in keys}):
        yield


def apps_using(registry, dataset: str, version: int) -> list:
    """Live app versions that loaded ``dataset`` in another version than ``version``."""
    found = []
    for app in registry.list_current():
        used = [r for r in app.meta.get("datasets") or [] if isinstance(r, dict) and r.get("dataset") == dataset]
        if used and any(r.get("version") != version for r in used):
            found.append(app)
    return found


def republish(dataset: str, version: int, settings, *, by: str,
              progress: Callable[[str], None] | None = None) -> list[dict]:
    """Publish every app that used an older version of ``dataset`` again; one result per app:
    ``app_id``, ``ok``, the new ``version`` or the German ``error``, and ``notes``."""
    from bif_lib.apps.config import AppsConfig
    from bif_lib.apps.registry import Registry

    say = progress or (lambda message: None)
    cfg = AppsConfig.from_settings(settings)
    registry = Registry(cfg.apps_dir)
    with readers_role(settings):
        return [_publish_again(app, dataset, cfg, registry, by, say)
                for app in apps_using(registry, dataset, version)]


def _publish_again(app, dataset: str, cfg, registry, by: str, say: Callable[[str], None]) -> dict:
    from bif_lib.apps.publishing.publish import PublishError, publish_notebook

    say(f"Veröffentliche App {app.app_id} neu (nutzt {dataset})")
    try:
        published = publish_notebook(app.notebook, published_by=by, app_id=app.app_id, cfg=cfg, registry=registry,
                                     filename=app.meta.get("source") or f"{app.app_id}.ipynb")
    except PublishError as exc:
        return {"app_id": app.app_id, "ok": False, "live_version": app.version, "error": exc.german()}
    except Exception as exc:  # noqa: BLE001 - one app must not stop the others
        log.exception("republishing %s failed", app.app_id)
        return {"app_id": app.app_id, "ok": False, "live_version": app.version,
                "error": f"Die App {app.app_id!r} wurde nicht neu veröffentlicht: unerwarteter Fehler "
                         f"{type(exc).__name__}: {exc}"}
    return {"app_id": app.app_id, "ok": True, "version": published.version, "notes": published.notes}


__all__ = ["apps_using", "readers_role", "republish"]
