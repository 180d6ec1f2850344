"""Publishing a notebook as an app: check it, store it as a new version, go live.

Order of the steps (each failure refuses the publication with German reasons and leaves
the app that is already published exactly as it was):

1. metadata (``metadata.bif``: title, description, audience, owner; placeholders such as
   ``{districts}`` or ``{owner}`` filled from the city profile, ``bundled.py``),
2. a headless run (nbclient, with a timeout) in the publication sandbox (``sandbox.py``; as
   root): an account of its own that may read only what the app's classification allows, in
   its own PID, mount and network namespaces, so the code under check cannot reach the live
   app kernels, and a read of data the app may not use is refused by the operating system.
   Without root it runs as the current user, and the publisher is told that no sandbox was
   possible,
3. the datasets it loaded (``BIF_LOAD_TRACE``, for information) against the audience's
   clearance, and the "synthetisch" label when synthetic data is used,
4. thumbnail, notebook without outputs and ``meta.json`` into a new registry version,
   switched to current atomically,
5. Voilà's preheated kernels for the app are replaced: the apps service is asked to do it
   (``pools.py``; best effort: if the service is not running, it builds fresh pools when it
   starts). Inside the service (``refresh=False``) its handlers do this themselves.

``rollback`` and ``withdraw`` move the registry's ``current`` pointer (back, or away) and
refresh or drop the pool the same way.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from bif_lib.apps.account import AccountProblem, RunAs, service_account
from bif_lib.apps.config import AppsConfig
from bif_lib.apps.publishing import sandbox as sandboxing
from bif_lib.apps.publishing.bundled import fill_metadata
from bif_lib.apps.publishing.checks import (
    app_classification,
    check_classifications,
    check_metadata,
    check_synthetic_label,
)
from bif_lib.apps.publishing.execute import ExecutionResult, execute_notebook
from bif_lib.apps.publishing.thumbnail import thumbnail_for
from bif_lib.apps.registry import AppVersion, Registry, RegistryError, secure_root, slugify, validate_app_id
from bif_lib.apps.serving import pools
from bif_lib.apps.serving.frontend import frontend_for, needed_extensions, needs_mathjax
from bif_lib.i18n import reference_date

log = logging.getLogger("bif.apps.publish")

DEFAULT_KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
SERVICE_UNREACHABLE = ("Der App-Dienst war nicht erreichbar; die jetzt aktive Version ist spätestens nach seinem "
                       "nächsten Start sichtbar.")


class PublishError(Exception):
    """The publication was refused; ``reasons`` are German sentences for the publisher."""

    def __init__(self, reasons: list[str] | str, app_id: str | None = None, *, action: str = "veröffentlicht"):
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        self.app_id = app_id
        self.action = action  # what did not happen: "veröffentlicht", "zurückgerollt", "zurückgezogen"
        super().__init__("; ".join(self.reasons))

    def german(self) -> str:
        app = f"Die App {self.app_id!r}" if self.app_id else "Die App"
        return "\n".join([f"{app} wurde nicht {self.action}:", *(f"  – {r}" for r in self.reasons)])


@dataclass
class PublishResult:
    app: AppVersion
    pool_refreshed: bool
    notes: list[str] = field(default_factory=list)

    @property
    def app_id(self) -> str:
        return self.app.app_id

    @property
    def version(self) -> int:
        return self.app.version


def read_notebook(source: str | Path | dict) -> nbformat.NotebookNode:
    try:
        if isinstance(source, dict):
            nb = nbformat.from_dict(copy.deepcopy(source))
        else:
            nb = nbformat.read(str(source), as_version=4)
        if nb.get("nbformat", 4) < 4:
            nb = nbformat.convert(nb, 4)
        nbformat.validate(nb)
    except FileNotFoundError:
        raise PublishError(f"Notebook {str(source)!r} nicht gefunden.") from None
    except (nbformat.ValidationError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise PublishError(f"Die Datei ist kein gültiges Jupyter-Notebook: {e}") from None
    return nb


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The stored notebook: no outputs, no execution counts (Voilà executes it anyway)."""
    clean = copy.deepcopy(nb)
    for cell in clean.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    clean.metadata.setdefault("kernelspec", DEFAULT_KERNELSPEC)
    return clean


def publish_notebook(source: str | Path | dict, *, published_by: str, app_id: str | None = None,
                     filename: str | None = None, cfg: AppsConfig | None = None,
                     registry: Registry | None = None, run_as: RunAs | None = None,
                     refresh: bool = True) -> PublishResult:
    """Check and publish one notebook; raise ``PublishError`` (German reasons) if refused.

    As root the notebook is checked in the publication sandbox whatever ``run_as`` says;
    ``run_as`` is the identity of the check only without root (single-account mode).
    """
    cfg = cfg or AppsConfig.current()
    registry = registry or Registry(cfg.apps_dir)
    nb = read_notebook(source)
    name = filename or (Path(source).name if not isinstance(source, dict) else None)
    nb = fill_metadata(nb, app_id or (slugify(name) if name else None))

    result = check_metadata(nb)
    app_id = app_id or (result.metadata.app_id if result.metadata else None) or (slugify(name) if name else None)
    if result.problems:
        raise PublishError(result.problems, app_id)
    meta = result.metadata
    if not app_id:
        raise PublishError("Keine App-Kennung: Dateiname oder bif.id angeben.")
    try:
        validate_app_id(app_id)
    except RegistryError as e:
        raise PublishError(str(e), app_id) from None

    if run_as is None:
        try:
            run_as = service_account(cfg)
        except AccountProblem as e:
            raise PublishError(str(e), app_id) from None
        secure_root(registry.root)  # after the account exists (it may own the folder)
    classification = app_classification(meta)
    run = check_run(nb, cfg, classification, run_as=run_as, app_id=app_id, published_by=published_by)
    notes = [] if run.sandboxed else [sandboxing.NO_SANDBOX_NOTE]
    if not run.ok:
        raise PublishError(run.error or "Das Notebook ließ sich nicht ausführen.", app_id)

    problems = check_classifications(meta.audience, run.datasets) + check_synthetic_label(meta, run.datasets)
    if problems:
        raise PublishError(problems, app_id)

    thumb, from_notebook = thumbnail_for(run.notebook)
    requested = (nb.metadata.get("bif") or {}).get("frontend_extensions") or ()
    stored = strip_outputs(nb)
    stored.metadata["title"] = meta.title  # Voilà uses it as the page title
    # what the registry records about this version; read by the gallery on every request
    record: dict[str, Any] = {
        **meta.as_dict(),
        "owner": meta.owner or published_by,
        "published_by": published_by,
        "source": name,
        "datasets": _with_titles(run.datasets, cfg.store),
        "synthetic": any(d.synthetic for d in run.datasets),
        "thumbnail_from_notebook": from_notebook,
        "check_seconds": round(run.seconds, 2),
        "classification": classification,
        "check_sandboxed": run.sandboxed,
        "kernel": stored.metadata.kernelspec.get("name", "python3"),
        "frontend_extensions": needed_extensions(run.notebook, run.modules, requested),
        "mathjax": needs_mathjax(run.notebook, requested),
        "bif_lib_digest": bif_lib_digest(),
    }
    record["frontend"] = frontend_for(run.notebook, record["frontend_extensions"], record["mathjax"], run.modules,
                                      requested)
    app = registry.add_version(app_id, nbformat.writes(stored), record, thumb, by=published_by)
    log.info("published %s version %s", app_id, app.version)
    return _live(app, cfg, refresh, notes)


def check_run(nb: nbformat.NotebookNode, cfg: AppsConfig, classification: str, *, run_as: RunAs | None = None,
              app_id: str | None = None, published_by: str = "?",
              total_timeout: float | None = None) -> ExecutionResult:
    """The headless run of a publication check: in the sandbox as root, else as ``run_as``.
    Raises ``PublishError`` if the sandbox cannot be used; notebook errors are in the result."""
    store = cfg.store or str(Path(cfg.home) / "store")
    box = None
    if sandboxing.available():
        try:
            box = sandboxing.sandbox_for(cfg, classification)
        except sandboxing.SandboxError as e:
            raise PublishError(str(e), app_id) from None
        log.info("publishing %s by %s: checking in the sandbox as %s (%s app, groups %s)", app_id, published_by,
                 box.account, classification, list(box.groups))
    else:
        log.warning(sandboxing.NO_SANDBOX_LOG)
        log.info("publishing %s by %s: executing as %s", app_id, published_by, run_as.name if run_as else "?")
    return execute_notebook(nb, run_as=run_as, sandbox=box, home=cfg.home, store=store,
                            timeout=cfg.publish_timeout, total_timeout=total_timeout)


@functools.lru_cache(maxsize=1)
def bif_lib_digest() -> str:
    """SHA-256 over the Python sources of the installed bif_lib (paths and contents).

    The bundled apps' notebooks only call their module in ``bif_lib.apps.views``: what a planner
    sees changes with the code, not the notebook, so a version records the code it was checked
    with and ``is_live`` is false after an update."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "node_modules" in path.parts or "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_live(source: str | Path, *, cfg: AppsConfig | None = None, registry: Registry | None = None) -> bool:
    """True if the app's live version holds this notebook (same cells and metadata) and was
    checked against the datasets' current versions — publishing it again would change nothing."""
    cfg = cfg or AppsConfig.current()
    registry = registry or Registry(cfg.apps_dir)
    nb = read_notebook(source)
    nb = fill_metadata(nb, slugify(Path(source).name))
    result = check_metadata(nb)
    app_id = (result.metadata.app_id if result.metadata else None) or slugify(Path(source).name)
    live = registry.current(app_id) if registry.exists(app_id) else None
    if live is None:
        return False
    stored = nbformat.read(str(live.notebook), as_version=4)
    mine = strip_outputs(nb)
    if [(c.cell_type, c.source) for c in stored.cells] != [(c.cell_type, c.source) for c in mine.cells] \
            or stored.metadata.get("bif") != mine.metadata.get("bif"):
        return False
    if "frontend" not in live.meta:
        return False  # published before the front end was recorded: publishing again lets it choose
    if live.meta.get("bif_lib_digest") != bif_lib_digest():
        return False  # a bundled app is a few lines calling bif_lib.apps.views: new code, new check and thumbnail
    from bif_lib.store import Store

    catalog = Store(cfg.store or Path(cfg.home) / "store").catalog
    for record in live.meta.get("datasets", []):
        latest = catalog.latest(record["dataset"])
        if latest is None or latest.version != record.get("version"):
            return False
    return True


def _with_titles(datasets, store_path: str) -> list[dict]:
    """Dataset records for meta.json, with the catalog's human title and the data's reference date
    where available."""
    records = [d.as_dict() for d in datasets]
    if not records:
        return records
    try:
        from bif_lib.store import Store

        store = Store(store_path)
        for record in records:
            try:
                entry = store.catalog.get(record["dataset"], version=record["version"])
                record["title"] = entry.title
                # the data's „Stand“ for the gallery card (the contract's temporal_coverage)
                record["reference"] = reference_date((entry.contract or {}).get("temporal_coverage"))
            except Exception:  # noqa: BLE001 - a title is nice to have, never a reason to refuse
                pass
    except Exception:  # noqa: BLE001
        log.warning("catalog of %s not readable; gallery shows dataset ids", store_path)
    return records


def rollback(app_id: str, to: int | None = None, *, by: str, cfg: AppsConfig | None = None,
             registry: Registry | None = None, refresh: bool = True) -> PublishResult:
    """Make an earlier version live again (``to``, else the one before the current version;
    for a withdrawn app the version that was withdrawn) and replace the app's pooled kernels."""
    cfg = cfg or AppsConfig.current()
    app = _change(app_id, "zurückgerollt", (registry or Registry(cfg.apps_dir)).rollback, to, by=by)
    return _live(app, cfg, refresh)


def withdraw(app_id: str, *, by: str, cfg: AppsConfig | None = None, registry: Registry | None = None,
             refresh: bool = True) -> PublishResult:
    """Take the app off the gallery: nobody can open it any more; its versions are kept, so
    ``rollback`` brings it back. Its pooled kernels are shut down. ``result.app`` is the
    version that was live."""
    cfg = cfg or AppsConfig.current()
    app = _change(app_id, "zurückgezogen", (registry or Registry(cfg.apps_dir)).withdraw, by=by)
    return PublishResult(app, refresh and pools.drop_pool(cfg, app_id))


def _live(app: AppVersion, cfg: AppsConfig, refresh: bool, notes: list[str] | None = None) -> PublishResult:
    """``app`` has just gone live: the service is asked to replace its pooled kernels (unless
    the caller does that itself, ``refresh=False``); the notes say if it could not be asked."""
    refreshed = refresh and pools.refresh_pool(cfg, app.app_id, app.meta.get("pool_size"))
    notes = [*(notes or []), *([SERVICE_UNREACHABLE] if refresh and not refreshed else [])]
    return PublishResult(app, refreshed, notes)


def _change(app_id: str, action: str, change, *args, **kwargs) -> AppVersion:
    """A registry change (rollback, withdraw); its refusal as ``PublishError``."""
    try:
        return change(app_id, *args, **kwargs)
    except RegistryError as e:
        raise PublishError(str(e), app_id, action=action) from None
