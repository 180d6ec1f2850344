"""The gallery page: which apps a person may open, rendered in German.

Read from the registry on every request (a directory listing and one small JSON file per
app), so a publication or rollback shows up at the next page load without restarting
anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2

from bif_lib.apps.access import can_open
from bif_lib.apps.publishing.checks import GROUP_LABELS
from bif_lib.apps.registry import AppVersion, Registry
from bif_lib.apps.serving.frontend import LIGHT, LIGHT_STATIC, light_frontend_files
from bif_lib.i18n import CLASSIFICATION_LABELS

TEMPLATES = Path(__file__).resolve().parent / "templates"
LOCAL_TZ = ZoneInfo("Europe/Berlin")
MAIN_DATASETS = 3  # a card names this many datasets; the others under „+ N weitere“
_SORT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


@dataclass(frozen=True)
class DatasetLine:
    name: str
    title: str
    version: int | None
    snapshot: str          # import date "05.12.2026" or "–"
    classification: str    # German label
    synthetic: bool
    reference: str = ""    # the data's reference date ("31.12.2022"), if the publication recorded it

    @property
    def meta(self) -> str:
        """'Stand 31.12.2022, synthetisch' — the reference date, else when it was read in."""
        when = f"Stand {self.reference}" if self.reference else f"eingelesen {self.snapshot}"
        return when + (", synthetisch" if self.synthetic else "")


@dataclass(frozen=True)
class GalleryItem:
    app_id: str
    version: int
    title: str
    description: str
    owner: str
    published: str         # "12.03.2025, 14:05 Uhr"
    published_iso: str
    audience: str
    datasets: tuple[DatasetLine, ...]
    synthetic: bool
    url: str
    thumbnail_url: str
    frontend: str = ""     # "bif" (BIF's app front end) or "voila", as recorded at publication

    @property
    def main_datasets(self) -> tuple[DatasetLine, ...]:
        """The datasets a card names: synthetic ones first (people must know), then internal,
        then open ones, each in the recorded order; at most :data:`MAIN_DATASETS`."""
        return _by_importance(self.datasets)[:MAIN_DATASETS]

    @property
    def more_datasets(self) -> tuple[DatasetLine, ...]:
        """The others, behind „+ N weitere“."""
        return _by_importance(self.datasets)[MAIN_DATASETS:]


def _by_importance(datasets: tuple[DatasetLine, ...]) -> tuple[DatasetLine, ...]:
    internal = CLASSIFICATION_LABELS.get("internal")
    return tuple(sorted(datasets, key=lambda d: (not d.synthetic, d.classification != internal)))


def german_date(value: str | None) -> str:
    dt = _parse(value)
    return dt.strftime("%d.%m.%Y") if dt else "–"


def german_datetime(value: str | None) -> str:
    dt = _parse(value)
    return dt.strftime("%d.%m.%Y, %H:%M Uhr") if dt else "–"


def _parse(value) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(LOCAL_TZ)
    return dt


def item_for(app: AppVersion, prefix: str) -> GalleryItem:
    meta = app.meta
    datasets = tuple(
        DatasetLine(
            name=d["dataset"], title=d.get("title") or d["dataset"], version=d.get("version"),
            snapshot=german_date(d.get("created_at")),
            classification=CLASSIFICATION_LABELS.get(d.get("classification"), d.get("classification") or "?"),
            synthetic=bool(d.get("synthetic")), reference=str(d.get("reference") or ""),
        )
        for d in meta.get("datasets", [])
    )
    return GalleryItem(
        app_id=app.app_id, version=app.version, title=meta.get("title", app.app_id),
        description=meta.get("description", ""), owner=meta.get("owner") or "–",
        published=german_datetime(meta.get("published_at")), published_iso=meta.get("published_at", ""),
        audience=", ".join(GROUP_LABELS.get(g, g) for g in meta.get("audience", [])),
        datasets=datasets, synthetic=bool(meta.get("synthetic")),
        url=f"{prefix}app/{app.app_id}/",
        thumbnail_url=f"{prefix}thumbnails/{app.app_id}/{app.version}.png",
        frontend=str(meta.get("frontend") or ""),
    )


def items_for_user(registry: Registry, user: dict, prefix: str) -> list[GalleryItem]:
    items = [item_for(app, prefix) for app in registry.list_current() if can_open(user, app.meta)]
    return sorted(items, key=lambda i: i.title.lower().translate(_SORT))


class AheadFile(NamedTuple):
    """A file of the app front end for the browser to fetch ahead, and how (the ``rel`` of its
    ``<link>``): the scripts as ``"modulepreload"``, which also compiles them (not run) for the
    app page in the same tab, everything else as ``"prefetch"``."""

    href: str
    rel: str


def front_end_ahead(frontends: Iterable[str], assets_prefix: str) -> list[AheadFile]:
    """The files of BIF's app front end, if one of the apps uses it (``frontends``: each app's
    front end as recorded at publication, ``GalleryItem.frontend``): the gallery names them
    for the browser to fetch while the person chooses an app, and the hub's login page on the
    way to an app asks for them (``assets/ahead``, service.py).

    Every app page with that front end loads the same files (1.6 MB, 460 KB compressed), cached for
    good under the versioned ``assets/<key>/`` prefix. Fetched ahead, the first open of an
    app finds them in the browser's cache instead of waiting for them. When many planners
    open apps at once, that is also the largest part of what the proxy and the gateway carry
    (bench/README.md, "The app front end fetched from the gallery").
    """
    if LIGHT not in frontends:
        return []
    urls = [f"{assets_prefix}{LIGHT_STATIC}{name}" for name in light_frontend_files()]
    return [AheadFile(url, "modulepreload" if urlsplit(url).path.endswith(".js") else "prefetch") for url in urls]


class Pages:
    """Jinja2 rendering of the service's own pages (gallery and messages)."""

    def __init__(self, prefix: str, hub_prefix: str, platform_name: str):
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                      autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self.common = {"prefix": prefix, "hub_prefix": hub_prefix, "platform_name": platform_name}

    def gallery(self, user: dict, items: list[GalleryItem], *, lab_link: bool,
                ahead: list[AheadFile] = ()) -> str:
        """``ahead``: files the browser may fetch while the person chooses (``front_end_ahead``)."""
        return self.env.get_template("gallery.html").render(
            **self.common, user=user, items=items, lab_link=lab_link, ahead=ahead)

    def waiting(self, position: int, *, user: dict | None = None) -> str:
        """The page of somebody waiting in line for an app (streamed; see service.py)."""
        return self.env.get_template("waiting.html").render(**self.common, user=user, position=position)

    def message(self, title: str, text: str, *, user: dict | None = None, status: int = 200) -> str:
        return self.env.get_template("message.html").render(
            **self.common, user=user, title=title, text=text, status=status)
