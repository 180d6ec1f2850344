"""Page layout of the planning apps: style sheet, header, table and chart views, controls.

Laid out for windows 1280–1920 px wide (office laptops 1366 × 768 to full-HD screens):
controls in a left column of 300 px, the views right of it; below, boxes side by side that
wrap below each other when the window is narrow (:func:`side_by_side`). Tables show all
their rows and every column: headers wrap, a table never scrolls inside a box of its own.
Dropdowns carry their label above them and are as wide as their column (in the choice bar,
:func:`choice_bar`: as wide as their longest option). ``tests/planning_apps/test_layout.py``
checks this at 1280, 1366, 1400 and 1920 px; ``test_visual_regression.py`` compares
screenshots with references (docs/apps.md, *Layout and screenshots*).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import weakref
from collections.abc import Mapping, Sequence

import ipywidgets as widgets

from bif_lib.apps.widgets.export import TableDownloads, png_link
from bif_lib.apps.widgets.formatting import html_table
from bif_lib.apps.widgets.loading import RAISE_ENV
from bif_lib.i18n import format_number

log = logging.getLogger("bif.ui")
EXPORT_FAILED = ('<span class="bif-status bif-error" role="alert">Tabelle herunterladen: Die Dateien konnten nicht '
                 "erstellt werden.</span>")

APP_CSS = """
<style>
.bif-app { font-family: "Segoe UI", "Source Sans Pro", "Helvetica Neue", Arial, sans-serif; color: #1a1a1a; }
.bif-app .widget-label, .bif-app .widget-readout { font-size: 13px; }
.bif-app .widget-html-content { line-height: 1.4; }
.bif-app .widget-html > .widget-html-content { align-self: auto; }
.bif-header h2 { margin: 0 0 2px 0; font-size: 20px; color: #003b6f; }
.bif-header p { margin: 0 0 6px 0; color: #444; font-size: 13px; max-width: 70em; }
.bif-header .bif-badge { margin-right: 4px; }
.bif-badge { display: inline-block; padding: 1px 7px; border-radius: 9px; font-size: 11px; font-weight: 600;
             vertical-align: middle; }
.bif-badge-synthetic { background: #fde2e4; color: #8a1020; border: 1px solid #c8102e; }
.bif-badge-estimate { background: #fff3cd; color: #7a5200; border: 1px solid #e0a800; }
.bif-badge-input { background: #d4edda; color: #155724; border: 1px solid #28a745; }
.bif-synthetic-note { background: #fff5f5; border-left: 4px solid #c8102e; padding: 6px 10px; margin: 6px 0; }
.bif-controls { padding-right: 10px; }
.bif-controls .widget-inline-hbox .widget-label { min-width: 0; }
/* dropdowns: label above, the list as wide as the column (or, in the choice bar, as its longest option) */
.bif-app .widget-dropdown.bif-dropdown { flex-direction: column; align-items: stretch; height: auto; }
.bif-app .bif-dropdown > .widget-label { width: auto !important; text-align: left; margin: 8px 0 2px 0;
  line-height: 18px; height: auto; font-weight: 600; color: #003b6f; }
.bif-app .bif-dropdown > select { flex: 0 0 auto; height: var(--jp-widgets-inline-height); width: 100%; }
.bif-choice-bar { flex-wrap: wrap; align-items: flex-end; gap: 0 20px; overflow: visible !important; margin: 0 0 6px 0; }
.bif-choice-bar > .bif-dropdown { width: auto !important; max-width: 100%; flex: 0 1 auto; }
.bif-choice-bar > .bif-dropdown > select { width: auto; max-width: 100%; }
/* boxes side by side that wrap below each other when the window is narrow (side_by_side) */
.bif-side-by-side { flex-wrap: wrap; align-items: flex-start; gap: 8px 28px; overflow: visible !important; }
.bif-side-by-side > * { min-width: min-content; overflow: visible !important; }
.bif-section-title { font-weight: 600; color: #003b6f; margin: 8px 0 2px 0; font-size: 13px; }
.bif-table { margin: 4px 0 8px 0; }
.bif-table-title { font-weight: 600; margin: 2px 0 4px 0; font-size: 13px; }
.bif-table-scroll { overflow-x: auto; border: 1px solid #d0d7de; }
.bif-table table { border-collapse: collapse; font-size: 12.5px; width: 100%; }
.bif-table th { background: #eef3f8; border-bottom: 1px solid #c3ccd5; padding: 4px 6px; font-weight: 600;
                text-align: left; vertical-align: bottom; white-space: normal; overflow-wrap: normal; }
.bif-table th.num, .bif-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bif-table td.num { white-space: nowrap; }
.bif-table td { padding: 3px 6px; border-bottom: 1px solid #eceff2; }
.bif-table tbody tr:nth-child(even) { background: #fafbfc; }
.bif-table tr.bif-warn td { background: #fde2e4; }
.bif-table tr.bif-selected td { font-weight: 700; box-shadow: inset 0 0 0 9999px rgba(0, 59, 111, 0.08); }
.bif-table tr.bif-selected td:first-child { border-left: 4px solid #c8102e; }
.bif-notes { margin: 4px 0 0 0; padding-left: 18px; font-size: 11.5px; color: #555; }
.bif-downloads { font-size: 12.5px; }
.bif-download { display: inline-block; margin: 2px 8px 2px 0; padding: 2px 9px; border: 1px solid #003b6f;
                border-radius: 4px; color: #003b6f !important; text-decoration: none; background: #fff; }
.bif-download:hover, .bif-download:focus { background: #003b6f; color: #fff !important; }
.bif-download-label { color: #444; margin-right: 4px; }
.bif-chart img { max-width: 100%; height: auto; }
.bif-status-line { min-height: 22px; }
.bif-status { font-size: 12.5px; }
.bif-error { color: #8a1020; background: #fde2e4; padding: 3px 8px; border-radius: 4px; display: inline-block; }
.bif-spinner { display: inline-block; width: 12px; height: 12px; border: 2px solid #c3ccd5; border-top-color: #003b6f;
               border-radius: 50%; animation: bif-spin 0.8s linear infinite; vertical-align: -2px; }
@keyframes bif-spin { to { transform: rotate(360deg); } }
.bif-legend { background: rgba(255,255,255,0.92); padding: 5px 8px; font-size: 11.5px; border-radius: 4px;
              line-height: 1.5; }
.bif-hover { font-size: 12px; color: #333; max-width: 320px; }
.bif-legend-title { font-weight: 600; max-width: 210px; }
.bif-swatch { display: inline-block; width: 14px; height: 10px; margin-right: 5px; border: 1px solid #999;
              vertical-align: middle; }
.bif-map .leaflet-container, .bif-district-map .leaflet-container { background: #f4f6f8; }
.bif-keyfigures { display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 12.5px; margin: 2px 0 4px 0; }
.bif-kf-label { color: #555; }
.bif-kf-value { font-weight: 600; }
.bif-muted { color: #666; font-weight: normal; }
.bif-quality { font-size: 12.5px; }
.bif-quality details { margin: 4px 0; }
.bif-meta th { text-align: left; vertical-align: top; padding: 2px 10px 2px 0; white-space: nowrap; color: #333; }
.bif-meta td { padding: 2px 0; }
.bif-meta ul { margin: 0; padding-left: 16px; }
.bif-capacity-row .widget-label { min-width: 0; }
.bif-cap-head .bif-cap-col { font-weight: 600; font-size: 12px; white-space: nowrap; }
.bif-help { font-size: 12px; color: #555; }
.bif-slider-label { font-size: 12.5px; color: #333; margin: 4px 0 -4px 4px; }
.bif-labelled-slider .widget-slider { margin-left: 0; }
</style>
"""


def style() -> widgets.HTML:
    """The apps' style sheet (include once per app)."""
    return widgets.HTML(APP_CSS, layout=widgets.Layout(height="0px", margin="0"))


def header(title: str, description: str, *, synthetic: bool = False) -> widgets.HTML:
    """Title, „synthetisch“ badge and description of an app.

    On an app page the app bar names the app already: the page's style sheet
    (``serving/static/app.css``) hides this title there, so it appears once. In JupyterLab it
    is shown. The badge stands before the description, where it is seen in both.
    """
    badge = ('<span class="bif-badge bif-badge-synthetic" title="enthält synthetische Daten">synthetisch</span> '
             if synthetic else "")
    return widgets.HTML(f'<div class="bif-header"><h2 class="bif-header-title">{html.escape(title)}</h2>'
                        f"<p>{badge}{html.escape(description)}</p></div>")


def section_title(text: str) -> widgets.HTML:
    return widgets.HTML(f'<div class="bif-section-title">{html.escape(text)}</div>')


def help_text(text: str) -> widgets.HTML:
    return widgets.HTML(f'<div class="bif-help">{html.escape(text)}</div>')


PREPARING = '<span class="bif-download-label">Tabelle herunterladen: wird vorbereitet …</span>'
PNG_PREPARING = '<span class="bif-download-label">Diagramm speichern: wird vorbereitet …</span>'
DOWNLOAD_DELAY_S = 0.3  # downloads wait until the planner pauses: rapid clicks never wait for them
_replaying = False


@contextlib.contextmanager
def replaying():
    """Changes applied to bring a copy of the app to where a page already is (the shared view's
    replay, ``serving/shared_state.py``): the page has seen what they drew, so a chart is drawn
    again only when it is shown or saved (:meth:`ChartView.update`). A replay costs the app's
    computing then, not its drawing: in the Bevölkerung app about 3 instead of 60 CPU-ms for a
    change of the Stadtteil (bench/README.md)."""
    global _replaying
    before, _replaying = _replaying, True
    try:
        yield
    finally:
        _replaying = before


def withdraw(widget, placeholder: str) -> None:
    """Set ``widget.value`` to ``placeholder`` (e.g. „wird vorbereitet …“ instead of download
    links) and send it also when this copy holds it already: a copy that replayed a page's
    changes has not built what the page's pauses built (``Later``), so the page may still show
    the previous links, which must never stay next to a new table or chart."""
    if widget.value == placeholder:
        widget.send_state("value")
    else:
        widget.value = placeholder


_waiting: weakref.WeakSet[Later] = weakref.WeakSet()  # Laters whose timer is set


def run_deferred(rounds: int = 10) -> None:
    """Run all deferred work (``Later``) now, also what that work defers in turn (up to
    ``rounds`` times). For a kernel about to be forked: a fork never runs its parent's timers,
    so what waits for one would never appear in the copies (``shared_state.start_state_server``)."""
    for _ in range(rounds):
        if not _waiting:
            return
        for later in list(_waiting):
            later.flush()


class Later:
    """Runs a function once the planner pauses: ``delay`` seconds after the last request, in
    the kernel's event loop (Voilà); without a running loop (tests, scripts) at once.

    For what a change does not need to show at once (export files, download links): a
    planner clicking through districts is never kept waiting by them.
    """

    def __init__(self, delay: float = DOWNLOAD_DELAY_S):
        self.delay = delay
        self._handle = None
        self._pending = None

    def __call__(self, function) -> None:
        self.cancel()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._run(function)
        else:
            self._pending = function
            self._handle = loop.call_later(self.delay, self._run, function)
            _waiting.add(self)

    def flush(self) -> None:
        """Run what is waiting now (scripts and tests, where a loop may run that nobody turns)."""
        function = self._pending
        self.cancel()
        if function is not None:
            self._run(function)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._pending = None
        _waiting.discard(self)

    def _run(self, function) -> None:
        self._handle = None
        self._pending = None
        _waiting.discard(self)
        try:
            function()
        except Exception:  # noqa: BLE001 - outside any callback: log, keep the app usable
            log.exception("deferred update failed")
            if os.environ.get(RAISE_ENV):
                raise


class TableView(widgets.VBox):
    """A ViewTable as German HTML table plus Excel/CSV links for exactly that table.

    The table shows all its rows (a total row at the end stays in sight); ``max_height``
    would put it into a box that scrolls, for long tables only.
    """

    def __init__(self, *, max_height: str | None = None, table_id: str | None = None, export_info=None,
                 extra_sheets=None):
        self.html = widgets.HTML("")
        self.html.add_class("bif-table-html")
        self.downloads = TableDownloads()
        self.max_height = max_height
        self.table_id = table_id
        self.export_info = export_info  # callable -> dict (sources, licence) or dict
        # callable -> [(sheet name, ViewTable), …]: further sheets of the Excel file (e.g. the assumptions)
        self.extra_sheets = extra_sheets
        self.table = None
        self._later = Later()
        super().__init__(children=[self.html, self.downloads])
        self.add_class("bif-table-view")

    def show(self, table) -> None:
        """Show ``table``; its download links follow with :meth:`update_downloads` (until then the
        links are withdrawn, so nobody can save the previous table by mistake)."""
        if table is self.table:
            return
        self._later.cancel()
        self.table = table
        self.html.value = html_table(table, max_height=self.max_height, table_id=self.table_id)
        withdraw(self.downloads, PREPARING)

    def update_downloads(self, *, now: bool = False) -> None:
        """Build the Excel/CSV files of the table shown, once the planner pauses (see :class:`Later`);
        ``now``: at once (scripts and tests, where an event loop may run that nobody turns)."""
        if self.table is not None and self.downloads.table is not self.table:
            if now:
                self._later.cancel()
                self._build()
            else:
                self._later(self._build)

    def _build(self) -> None:
        try:
            info = self.export_info() if callable(self.export_info) else self.export_info
            extra = self.extra_sheets() if callable(self.extra_sheets) else (self.extra_sheets or ())
            self.downloads.update(self.table, info=info, extra_sheets=extra)
        except Exception:
            self.downloads.value = EXPORT_FAILED
            raise


class ChartView(widgets.VBox):
    """A PNG chart with a „als PNG speichern“ link of the very same image.

    ``canvas`` is a reusable matplotlib figure for the chart functions (faster redraws):
    ``view.show(charts.pyramid_png(..., canvas=view.canvas), "datei")``.
    """

    def __init__(self, *, width: str = "100%", size=None):
        from bif_lib.apps.widgets.charts import SIZE, Canvas

        self.canvas = Canvas(size or SIZE)
        self.image = widgets.Image(format="png", layout=widgets.Layout(width=width, max_width="720px",
                                                                       height="auto"))
        self.link = widgets.HTML("")
        self.key = None
        self._png: bytes | None = None
        self._unseen = None  # (render, filename) of a chart replayed but not drawn (see ``replaying``)
        self._image_stale = False  # the image widget does not hold what the page shows
        self._later = Later()
        super().__init__(children=[self.image, self.link])
        self.add_class("bif-chart")

    @property
    def png(self) -> bytes | None:
        """The chart shown (drawn now if a replay left it undrawn)."""
        if self._unseen is not None:
            render, _ = self._unseen
            self._unseen = None
            self._png = render()
        return self._png

    def finish(self) -> None:
        """Build the download link now instead of when the planner pauses."""
        self._later.flush()

    def show(self, png: bytes, filename: str) -> None:
        """Show ``png``; its download link (the same bytes again, as data URI) follows once the
        planner pauses (see :class:`Later`); until then the previous chart's link is withdrawn."""
        self._png, self._unseen = png, None
        self.key = None
        if self._image_stale and self.image.value == png:
            self.image.send_state("value")  # the page shows another picture than this copy holds
        else:
            self.image.value = png
        self._image_stale = False
        withdraw(self.link, PNG_PREPARING)
        self._later(lambda: self._link(png, filename))

    def update(self, key, render, filename: str) -> bool:
        """Render (``render()`` -> PNG bytes) only if ``key`` differs from the chart shown; returns
        whether it was redrawn. The key holds everything the chart depends on. While
        ``replaying``, the chart is not drawn until it is shown or its link is built, so
        ``render`` may run later: it must draw what ``key`` says (state it reads when it runs
        may change only together with the key, as the apps' result ``version``)."""
        if key is not None and key == self.key:
            return False
        if _replaying and key is not None:
            self.key, self._unseen, self._image_stale = key, (render, filename), True
            self._later(lambda: self._link(self.png, filename))
            return True
        self.show(render(), filename)
        self.key = key
        return True

    def _link(self, png: bytes, filename: str) -> None:
        name = filename if filename.endswith(".png") else f"{filename}.png"
        self.link.value = png_link(png, name)


def slider(label: str, value: float, low: float, high: float, step: float = 0.01, *, readout_decimals: int = 2,
           description_width: str = "150px", tooltip: str | None = None) -> widgets.FloatSlider:
    """A float slider with German label and German readout (comma), limited to [low, high]."""
    widget = widgets.FloatSlider(value=value, min=low, max=high, step=step, description=label,
                                 continuous_update=False, readout=True, readout_format=f".{readout_decimals}f",
                                 style={"description_width": description_width},
                                 layout=widgets.Layout(width="100%"), tooltip=tooltip or label)
    return widget


def german_readout(widget, decimals: int = 2, suffix: str = "", label: str | None = None) -> widgets.Box:
    """Slider without its own readout plus a German-formatted one (0,93 instead of 0.93).

    With ``label`` the label stands above the slider (long German labels stay readable and all
    sliders get the same length); the slider keeps it as tooltip.
    """
    widget.readout = False
    readout = widgets.HTML(layout=widgets.Layout(width="48px", min_width="48px"))

    def update(_=None):
        readout.value = f"<span class='bif-readout'>{format_number(widget.value, decimals)}{suffix}</span>"

    widget.observe(update, "value")
    update()
    if label is None:
        return widgets.HBox([widget, readout], layout=widgets.Layout(width="100%"))
    widget.description = ""
    widget.tooltip = widget.tooltip or label
    widget.layout.width = "calc(100% - 52px)"
    widget.style.description_width = "0px"
    caption = widgets.HTML(f'<div class="bif-slider-label">{html.escape(label)}</div>')
    box = widgets.VBox([caption, widgets.HBox([widget, readout], layout=widgets.Layout(width="100%"))],
                       layout=widgets.Layout(width="100%"))
    box.add_class("bif-labelled-slider")
    return box


def dropdown(label: str, options: Sequence | Mapping, value=None, *, description_width: str = "80px",
             width: str = "100%") -> widgets.Dropdown:
    """A dropdown with its label above it (class ``bif-dropdown``): the list gets the whole
    width of its column, so long names (schools, indicators) are not cut off."""
    opts = list(options.items()) if isinstance(options, Mapping) else list(options)
    kwargs = {} if value is None else {"value": value}
    widget = widgets.Dropdown(options=opts, description=label, style={"description_width": description_width},
                              layout=widgets.Layout(width=width), **kwargs)
    widget.add_class("bif-dropdown")
    return widget


def choice_bar(*dropdowns: widgets.Dropdown) -> widgets.HBox:
    """Dropdowns in a row across the page, each as wide as its longest option (long German
    topic names do not fit into the controls column); they wrap into a second row when the
    window is too narrow."""
    for widget in dropdowns:
        widget.layout.width = "auto"
    box = widgets.HBox(list(dropdowns), layout=widgets.Layout(width="100%"))
    box.add_class("bif-choice-bar")
    return box


def side_by_side(*boxes: widgets.Widget, basis: Sequence[str] | None = None) -> widgets.HBox:
    """Boxes next to each other that wrap below each other when the window is too narrow.

    Each box grows from its ``basis`` width (default: equal shares) and never becomes
    narrower than its content allows: a table keeps all its columns (its headers wrap first),
    a chart shrinks with the window.
    """
    basis = list(basis or [f"{100 // len(boxes) - 5}%"] * len(boxes))
    for box, width in zip(boxes, basis):
        box.layout.flex = f"1 1 {width}"
        box.layout.width = "auto"
    row = widgets.HBox(list(boxes), layout=widgets.Layout(width="100%"))
    row.add_class("bif-side-by-side")
    return row


def two_columns(left: widgets.Widget, right: widgets.Widget, left_width: str = "300px") -> widgets.HBox:
    left.layout.width = left_width
    left.layout.min_width = left_width
    left.layout.flex = "0 0 auto"
    right.layout.flex = "1 1 auto"
    right.layout.min_width = "0"
    right.layout.overflow = "hidden"
    box = widgets.HBox([left, right], layout=widgets.Layout(width="100%", align_items="flex-start"))
    return box


def app(*children: widgets.Widget) -> widgets.VBox:
    box = widgets.VBox([style(), *children], layout=widgets.Layout(width="100%"))
    box.add_class("bif-app")
    return box


class Guard:
    """Re-entrancy guard for widget callbacks: ``with guard:`` suppresses handlers that check
    ``if guard: return`` (e.g. while options of a dropdown are replaced programmatically)."""

    def __init__(self):
        self._depth = 0

    def __enter__(self):
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        return False

    def __bool__(self) -> bool:
        return self._depth > 0


def replace_options(dropdown: widgets.Dropdown, options: Sequence[tuple], value=None) -> None:
    """Set new (label, value) options and select ``value`` (or keep the current value, or the first)."""
    values = [v for _, v in options]
    target = value if value in values else dropdown.value if dropdown.value in values else values[0]
    dropdown.options = list(options)
    dropdown.value = target
