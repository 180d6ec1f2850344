"""Charts of the planning apps as PNG (matplotlib, rendered in the kernel).

A PNG is shown as it is and offered for download unchanged, so what people save is what
they saw — including title, source line and the „synthetisch“ label. Axes use German number
formatting (1.000er-Punkt, Dezimalkomma). Figures are drawn on their own Agg canvas (no pyplot),
so the notebook's matplotlib backend is left alone.

Speed: building a matplotlib figure (axes, ticks, texts) costs more than drawing the data,
and rendering text costs most. A :class:`Canvas` keeps its figure and axes between renders
and only replaces the data artists; it also keeps the pixels of the parts that stay the same
(e.g. the year axis, the legend, the source line) and draws only the rest over them
(blitting, see :meth:`Canvas.finish`), which saves another third of a redraw.
Apps pass ``canvas=chart_view.canvas``; without a canvas each call draws a fresh figure.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.ticker import AutoLocator, FuncFormatter, MaxNLocator
from PIL import Image

from bif_lib.i18n import format_number

BLUE = "#003b6f"
LIGHT_BLUE = "#6a9bd1"
RED = "#c8102e"
GREY = "#7f7f7f"
MALE = "#3b75af"
FEMALE = "#c8553d"
SIZE = (6.4, 3.5)
PYRAMID_SIZE = (6.4, 4.0)
DPI = 110
SYNTHETIC_LABEL = "synthetische Daten – keine amtlichen Werte"
BACKGROUNDS = 4  # kept backgrounds per chart (e.g. legend with and without „Unterdeckung“), 1 MB each
# glyphs without hinting: about a tenth faster to render, no visible difference at these sizes
FAST_TEXT = {"text.hinting": "no_hinting"}
LEGEND = {"fontsize": 7.5, "frameon": False, "loc": "lower left", "bbox_to_anchor": (0, 1.0)}


def german_formatter(decimals: int = 0) -> FuncFormatter:
    return FuncFormatter(lambda value, _pos: format_number(value, decimals))


YEAR_FORMATTER = FuncFormatter(lambda value, _pos: str(int(round(value))))
ABS_FORMATTER = FuncFormatter(lambda value, _pos: format_number(abs(value), 0))


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


class Canvas:
    """A reusable figure: one main axes (plus a right axis on demand), a title and a footer."""

    def __init__(self, size=SIZE):
        self.fig = Figure(figsize=size, dpi=DPI)
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes([0.1, 0.16, 0.86, 0.68])
        _style(self.ax)
        # fixed label positions: matplotlib then skips measuring all tick labels for them
        self.ax.yaxis.set_label_coords(-0.085, 0.5)
        self.ax.xaxis.set_label_coords(0.5, -0.12)
        self._ax2 = None
        self._backgrounds: OrderedDict[tuple, object] = OrderedDict()  # static key -> pixels (LRU)
        self.title = self.fig.text(0.01, 0.975, "", fontsize=10, ha="left", va="top")
        self.footer = self.fig.text(0.01, 0.01, "", fontsize=6.5, ha="left", va="bottom")

    @property
    def ax2(self):
        """The right-hand axis (created on first use)."""
        if self._ax2 is None:
            self._ax2 = self.ax.twinx()
            self._ax2.spines["top"].set_visible(False)
            self._ax2.yaxis.set_label_coords(1.1, 0.5)
            self._ax2.tick_params(labelsize=8, colors=GREY)
        self._ax2.set_visible(True)
        return self._ax2

    def start(self, *, title: str, position=(0.1, 0.16, 0.86, 0.68)) -> None:
        """Remove the previous data and legends; keep axes, ticks and texts."""
        for ax in (self.ax, self._ax2):
            if ax is None:
                continue
            for container in list(ax.containers):  # bar containers (else their labels pile up in legends)
                container.remove()
            for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts]:
                artist.remove()
            if ax.get_legend() is not None:
                ax.get_legend().remove()
            ax.set_ylabel("")
            ax.set_xlabel("")
        if self._ax2 is not None:
            self._ax2.set_visible(False)
            self._ax2.set_autoscale_on(True)
        self.ax.set_autoscale_on(True)
        self.ax.set_position(position)
        self.ax.grid(axis="x", visible=False)
        self.ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
        self.ax.xaxis.set_major_locator(AutoLocator())
        self.title.set_text(title)

    def finish(self, source: str | None, synthetic: bool, *, static: Sequence[Artist] = ()) -> bytes:
        """The figure as PNG.

        ``static`` names the parts that often stay the same from one render to the next (an
        axis, a legend): the figure without its changing parts is then drawn once, kept as
        pixels and only the changing parts are drawn over it (matplotlib's blitting). Text is
        most of the cost, and most text is in the static parts. The kept pixels are reused only
        while the static parts look the same (axis limits, ticks, labels, legend entries,
        footer, layout), so the picture equals a full redraw.
        """
        parts = [p for p in (source, SYNTHETIC_LABEL if synthetic else None) if p]
        self.footer.set_text(" · ".join(parts))
        self.footer.set_color(RED if synthetic else GREY)
        canvas = self.fig.canvas
        with rc_context(FAST_TEXT):
            if not static:
                canvas.draw()
            else:
                changing = self._changing(static)
                for artist in changing:
                    artist.set_animated(True)  # left out of a full draw
                try:
                    key = self._static_key(static)
                    if key in self._backgrounds:
                        self._backgrounds.move_to_end(key)
                        canvas.restore_region(self._backgrounds[key])
                    else:
                        canvas.draw()
                        self._backgrounds[key] = canvas.copy_from_bbox(self.fig.bbox)
                        if len(self._backgrounds) > BACKGROUNDS:
                            self._backgrounds.popitem(last=False)
                    for artist in sorted(changing, key=lambda a: a.get_zorder()):
                        self.fig.draw_artist(artist)
                finally:
                    for artist in changing:
                        artist.set_animated(False)
        image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buffer = io.BytesIO()
        # opaque RGB and a fast zlib level: PNG a fifth larger, encoding about twice as fast
        image.convert("RGB").save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    def _changing(self, static: Sequence[Artist]) -> list[Artist]:
        """Everything drawn except ``static``, the footer and the backgrounds."""
        keep = {id(a) for a in static} | {id(self.footer), id(self.fig.patch)}
        changing = [a for a in self.fig.get_children() if id(a) not in keep and not isinstance(a, Axes)]
        for ax in self.fig.axes:
            if ax.get_visible():
                changing += [a for a in ax.get_children() if id(a) not in keep and a is not ax.patch]
        return changing

    def _static_key(self, static: Sequence[Artist]) -> tuple:
        """What the kept pixels show: layout, footer and the state of each static part."""
        key = [self.fig.get_size_inches().tobytes(), self.footer.get_text(), self.footer.get_color()]
        for ax in self.fig.axes:
            key += [ax.get_visible(), ax.get_position().bounds]
        for artist in static:
            if artist is None:
                continue
            if isinstance(artist, Axis):
                locs = artist.get_majorticklocs()
                key += [artist.get_visible(), tuple(artist.get_view_interval()), tuple(locs),
                        tuple(artist.major.formatter.format_ticks(locs)), artist.label.get_text()]
            elif isinstance(artist, Legend):
                key += [artist.get_visible(), tuple(t.get_text() for t in artist.get_texts())]
            else:
                raise TypeError(f"static parts are axes or legends, not {type(artist).__name__}")
        return tuple(key)


def _year_axis(ax, years) -> None:
    years = [int(y) for y in years]
    if 0 < len(years) <= 12:
        ax.set_xticks(years)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=10))
    ax.xaxis.set_major_formatter(YEAR_FORMATTER)


def _segments(years, values):
    """Insert gaps where years are missing, so no line is drawn across unpublished years."""
    xs, ys = [], []
    previous = None
    for year, value in zip(years, values):
        if previous is not None and year - previous > 1:
            xs.append(np.nan)
            ys.append(np.nan)
        xs.append(year)
        ys.append(value)
        previous = year
    return xs, ys


def time_series_png(series: pd.DataFrame, *, title: str, unit: str, district_name: str | None,
                    city_label: str, additive: bool, mode: str = "werte", decimals: int = 0,
                    source: str | None = None, canvas: Canvas | None = None) -> bytes:
    """District against city. mode "index": both as index (first year = 100); "werte": values —
    counts put the city on a second axis (right), rates share one axis."""
    canvas = canvas or Canvas()
    twin = mode == "werte" and additive and bool(district_name)
    canvas.start(title=title, position=(0.1, 0.16, 0.76 if twin else 0.86, 0.68))
    ax = canvas.ax
    years = series["year"].astype(int).tolist()
    handles = []
    if mode == "index":
        base = series.attrs.get("index_base_year") or years[0]
        if district_name:
            handles += ax.plot(*_segments(years, series["district_index"]), marker="o", color=BLUE, lw=2,
                               label=district_name)
        handles += ax.plot(*_segments(years, series["city_index"]), marker="s", color=GREY, lw=1.6, ls="--",
                           label=city_label)
        ax.axhline(100, color="#bbbbbb", lw=0.8)
        ax.set_ylabel(f"Index ({base} = 100)", fontsize=8)
        ax.yaxis.set_major_formatter(german_formatter(0))
    else:
        formatter = german_formatter(decimals)
        if district_name:
            handles += ax.plot(*_segments(years, series["district"]), marker="o", color=BLUE, lw=2,
                               label=district_name)
        target = canvas.ax2 if twin else ax
        handles += target.plot(*_segments(years, series["city"]), marker="s", color=GREY, lw=1.6, ls="--",
                               label=f"{city_label} (rechte Achse)" if twin else city_label)
        target.yaxis.set_major_formatter(formatter)
        ax.yaxis.set_major_formatter(formatter)
        ax.set_ylabel(unit, fontsize=8)
    ax.relim()
    ax.autoscale_view()
    if twin:
        canvas.ax2.relim()
        canvas.ax2.autoscale_view()
    ax.legend(handles=handles, ncol=2, **LEGEND)
    _year_axis(ax, years)
    # another district: new line, left axis, title and legend; years and the city's axis stay
    return canvas.finish(source, False, static=[ax.xaxis, canvas.ax2.yaxis] if twin else [ax.xaxis])


def pyramid_png(pyramid: pd.DataFrame, *, title: str, compare_label: str | None = None,
                synthetic: bool = False, source: str | None = None, canvas: Canvas | None = None) -> bytes:
    """Single-year age pyramid: men left, women right; optional outline (e.g. the city scaled
    to the district's population)."""
    canvas = canvas or Canvas(PYRAMID_SIZE)
    canvas.start(title=title, position=(0.1, 0.15, 0.86, 0.68))
    ax = canvas.ax
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.8)
    ages = pyramid["age"].to_numpy()
    # one filled step outline per sex instead of 2 x 101 bars: same picture, a fraction of the cost
    y = np.repeat(np.append(ages - 0.5, ages[-1] + 0.5), 2)[1:-1]

    def steps(column: str) -> np.ndarray:
        return np.repeat(pyramid[column].to_numpy(float), 2)

    ax.fill_betweenx(y, 0, -steps("m"), color=MALE, label="männlich", linewidth=0)
    ax.fill_betweenx(y, 0, steps("w"), color=FEMALE, label="weiblich", linewidth=0)
    if compare_label:
        ax.plot(-steps("city_m"), y, color="black", lw=0.8, label=compare_label)
        ax.plot(steps("city_w"), y, color="black", lw=0.8)
    limit = float(np.nanmax(np.abs(pyramid[["m", "w", "city_m", "city_w"]].to_numpy(float)))) * 1.05 or 1.0
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-0.5, ages.max() + 0.5)
    ax.xaxis.set_major_formatter(ABS_FORMATTER)
    ax.yaxis.set_major_formatter(german_formatter(0))
    ax.set_xlabel("Personen je Altersjahr", fontsize=8)
    ax.set_ylabel("Alter", fontsize=8)
    ax.axvline(0, color="white", lw=0.6)
    ax.legend(ncol=3, **LEGEND)
    return canvas.finish(source, synthetic, static=[ax.yaxis, ax.get_legend()])  # ages and legend stay


def capacity_png(data: pd.DataFrame, *, title: str, synthetic: bool = False, source: str | None = None,
                 canvas: Canvas | None = None) -> bytes:
    """Pupils against school places per year; bars of years over capacity in red."""
    canvas = canvas or Canvas()
    canvas.start(title=title)
    ax = canvas.ax
    years = data["year"].astype(int).to_numpy()
    pupils = data["pupils"].to_numpy(float)
    places = data["capacity_places"].to_numpy(float)
    over = ~np.isnan(places) & (pupils > places + 1e-6)
    ax.bar(years[~over], pupils[~over], color=LIGHT_BLUE, label="Schüler", width=0.7)
    if over.any():
        ax.bar(years[over], pupils[over], color=RED, label="Schüler über Kapazität", width=0.7)
    if len(places) and not np.all(np.isnan(places)):
        ax.step(years, places, where="mid", color="black", lw=2, label="Schulplätze (Kapazität)")
    ax.yaxis.set_major_formatter(german_formatter(0))
    ax.set_ylabel("Schülerinnen und Schüler", fontsize=8)
    values = np.concatenate([pupils, places[~np.isnan(places)]])
    ax.set_ylim(0, (np.nanmax(values) if len(values) else 1.0) * 1.1 or 1.0)
    if len(years):
        ax.set_xlim(years.min() - 0.6, years.max() + 0.6)
        ax.legend(ncol=3, **LEGEND)
    _year_axis(ax, years)
    return canvas.finish(source, synthetic, static=[ax.xaxis, ax.get_legend()])  # another school: same years


def coverage_png(data: pd.DataFrame, *, title: str, synthetic: bool = False, source: str | None = None,
                 canvas: Canvas | None = None) -> bytes:
    """Children, demand and places per year for one age band; shortfall shaded."""
    canvas = canvas or Canvas()
    canvas.start(title=title)
    ax = canvas.ax
    years = data["year"].astype(int).to_numpy()
    ax.plot(years, data["children"], color=GREY, lw=1.4, ls=":", marker=".", label="Kinder")
    ax.plot(years, data["demand"], color=BLUE, lw=2, marker="o", label="Bedarf (Kinder × Bedarfsquote)")
    ax.step(years, data["places"], where="mid", color="black", lw=2, label="Plätze")
    gap = data["places"].to_numpy(float) < data["demand"].to_numpy(float)
    if gap.any():
        ax.fill_between(years, data["places"], data["demand"], where=gap, color=RED, alpha=0.25,
                        label="Unterdeckung", interpolate=True)
    ax.yaxis.set_major_formatter(german_formatter(0))
    ax.set_ylabel("Kinder / Plätze", fontsize=8)
    top = float(np.nanmax(data[["children", "demand", "places"]].to_numpy(float))) if len(data) else 1.0
    ax.set_ylim(0, top * 1.1 or 1.0)
    if len(years):
        ax.set_xlim(years.min() - 0.5, years.max() + 0.5)
    ax.legend(ncol=4, **LEGEND)
    _year_axis(ax, years)
    return canvas.finish(source, synthetic, static=[ax.xaxis, ax.get_legend()])  # another district: same years


# --- population projection (app „Bevölkerungsprognose“) -------------------------------------------

SCENARIO_STYLES = {"niedrig": (LIGHT_BLUE, "--"), "mittel": (BLUE, "-"), "hoch": (GREY, "--")}
OWN_COLOR = RED
GREEN = "#2e8b57"


def scenario_lines_png(data: pd.DataFrame, *, title: str, own: str | None = None, chosen: str | None = None,
                       synthetic: bool = False, source: str | None = None, canvas: Canvas | None = None) -> bytes:
    """Population per year, one line per scenario (columns besides ``year``); the column ``own``
    (the planner's assumptions) in red, the ``chosen`` one drawn thicker. The first year is the
    observed base."""
    canvas = canvas or Canvas()
    canvas.start(title=title)
    ax = canvas.ax
    years = data["year"].astype(int).to_numpy()
    for column in [c for c in data.columns if c != "year"]:
        color, style = SCENARIO_STYLES.get(column, (OWN_COLOR, "-"))
        if column == own:
            color, style = OWN_COLOR, "-"
        width = 2.8 if column == chosen else 1.4
        label = f"{column} (gewählt)" if column == chosen and len(data.columns) > 2 else column
        ax.plot(years, data[column].to_numpy(float), color=color, ls=style, lw=width, label=label,
                zorder=3 if column == chosen else 2)
    if len(years):
        ax.axvline(years[0], color="#bbbbbb", lw=0.8)
        ax.set_xlim(years.min() - 0.3, years.max() + 0.3)
    ax.relim()
    ax.autoscale_view(scalex=False)
    ax.yaxis.set_major_formatter(german_formatter(0))  # no axis label: six-digit ticks need the room; the title names it
    ax.legend(ncol=4, **LEGEND)
    _year_axis(ax, years)
    return canvas.finish(source, synthetic, static=[ax.xaxis])


def band_colors(n: int) -> list:
    """n colours from light to dark (young to old)."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.95 - 0.9 * i / max(n - 1, 1)) for i in range(n)]


def stacked_bands_png(data: pd.DataFrame, *, title: str, synthetic: bool = False, source: str | None = None,
                      canvas: Canvas | None = None) -> bytes:
    """Population per year by age band, stacked (columns besides ``year`` in age order)."""
    canvas = canvas or Canvas()
    columns = [c for c in data.columns if c != "year"]
    rows = (len(columns) + 5) // 6  # legend rows above the axes
    top = 0.84 - 0.045 * max(rows - 1, 0)
    canvas.start(title=title, position=(0.1, 0.16, 0.86, top - 0.16))
    ax = canvas.ax
    years = data["year"].astype(int).to_numpy()
    ax.stackplot(years, *[data[c].to_numpy(float) for c in columns], labels=columns,
                 colors=band_colors(len(columns)), linewidth=0)
    if len(years):
        ax.set_xlim(years.min(), years.max())
    total = data[columns].to_numpy(float).sum(axis=1) if columns else np.zeros(len(years))
    ax.set_ylim(0, (float(total.max()) if len(total) else 1.0) * 1.05 or 1.0)
    ax.yaxis.set_major_formatter(german_formatter(0))
    ax.legend(ncol=6, **{**LEGEND, "fontsize": 7}, title="Alter (Jahre)", title_fontsize=7)
    _year_axis(ax, years)
    return canvas.finish(source, synthetic, static=[ax.xaxis, ax.get_legend()])


def components_png(data: pd.DataFrame, *, title: str, synthetic: bool = False, source: str | None = None,
                   canvas: Canvas | None = None) -> bytes:
    """Births, deaths, moves in and out per year as bars (losses below zero) and the change of
    the population as a line. Columns: year, births, deaths, moves_in, moves_out."""
    canvas = canvas or Canvas()
    canvas.start(title=title)
    ax = canvas.ax
    years = data["year"].astype(int).to_numpy()
    width = 0.2
    parts = (("births", "Geburten", GREEN, 1), ("deaths", "Sterbefälle", GREY, -1),
             ("moves_in", "Zuzüge", BLUE, 1), ("moves_out", "Fortzüge", LIGHT_BLUE, -1))
    for k, (column, label, color, sign) in enumerate(parts):
        ax.bar(years + (k - 1.5) * width, sign * data[column].to_numpy(float), width=width, color=color, label=label)
    change = (data["births"] - data["deaths"] + data["moves_in"] - data["moves_out"]).to_numpy(float)
    ax.plot(years, change, color="black", lw=1.6, marker=".", label="Veränderung")
    ax.axhline(0, color="#888888", lw=0.8)
    if len(years):
        ax.set_xlim(years.min() - 0.6, years.max() + 0.6)
    ax.relim()
    ax.autoscale_view(scalex=False)
    ax.yaxis.set_major_formatter(german_formatter(0))
    ax.set_ylabel("Personen je Jahr", fontsize=8)
    ax.legend(ncol=5, **LEGEND)
    _year_axis(ax, years)
    return canvas.finish(source, synthetic, static=[ax.xaxis, ax.get_legend()])
