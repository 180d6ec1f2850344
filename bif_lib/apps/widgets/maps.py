"""Clickable district map that works offline: ipyleaflet with GeoJSON layers and no tile layer.

No tile server, no CDN: the district polygons are the map. Geodata is stored in EPSG:25832;
it is simplified there (metres) and reprojected to EPSG:4326 for display only.

* :func:`class_breaks`, :func:`color_for` and :func:`legend_html` are pure (tested);
* :class:`DistrictMap` colours districts by a value, shows a legend and a hover line,
  selects a district on click (``selected`` trait; click again to deselect) and can show
  points (schools, Kitas) that are clickable too (``selected_point``).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from bif_lib.i18n import format_number

# ColorBrewer palettes (5 classes)
SEQUENTIAL = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"]
DIVERGING = ["#ca0020", "#f4a582", "#f7f7f7", "#92c5de", "#0571b0"]  # red = shortfall, blue = surplus
MISSING_COLOR = "#d9d9d9"
SELECTED_COLOR = "#c8102e"
POINTS_PANE = "bif-points"  # above the district areas, whatever order the browser creates layers in
POINT_COLORS = {True: "#c8102e", False: "#2e8b57", None: "#8c8c8c"}  # over capacity / sufficient / unknown
OUTLINE_COLOR = "#4d4d4d"


def class_breaks(values: Sequence[float], n: int = 5) -> list[float]:
    """n equal-interval classes between min and max of the finite values: n+1 rounded bounds."""
    finite = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not finite:
        return []
    low, high = min(finite), max(finite)
    if math.isclose(low, high):
        return [low, high]
    return list(np.linspace(low, high, n + 1))


def color_for(value, breaks: Sequence[float], palette: Sequence[str] = SEQUENTIAL) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or not breaks:
        return MISSING_COLOR
    if len(breaks) == 2:
        return palette[len(palette) // 2]
    for i in range(len(breaks) - 1):
        if value <= breaks[i + 1] + 1e-12:
            return palette[min(i, len(palette) - 1)]
    return palette[-1]


def diverging_breaks(values: Sequence[float], n: int = 5) -> list[float]:
    """Symmetric classes around 0 (for gaps: negative = shortfall)."""
    finite = [abs(float(v)) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not finite or max(finite) == 0:
        return [-1.0, 1.0]
    m = max(finite)
    return list(np.linspace(-m, m, n + 1))


def legend_html(title: str, breaks: Sequence[float], palette: Sequence[str] = SEQUENTIAL, decimals: int = 0,
                suffix: str = "", missing_label: str | None = "keine Angabe",
                points: Mapping[str, str] | None = None) -> str:
    """Legend of the classes (German numbers); ``points`` adds {colour: label} for point symbols."""
    rows = []
    if len(breaks) >= 3:
        for i in range(len(breaks) - 1):
            low = format_number(breaks[i], decimals)
            high = format_number(breaks[i + 1], decimals)
            rows.append(f'<div><span class="bif-swatch" style="background:{palette[min(i, len(palette) - 1)]}">'
                        f"</span>{low} – {high}{suffix}</div>")
    elif breaks:
        rows.append(f'<div><span class="bif-swatch" style="background:{palette[len(palette) // 2]}"></span>'
                    f"{format_number(breaks[0], decimals)}{suffix}</div>")
    if missing_label:
        rows.append(f'<div><span class="bif-swatch" style="background:{MISSING_COLOR}"></span>'
                    f"{html.escape(missing_label)}</div>")
    for color, label in (points or {}).items():
        rows.append(f'<div><span class="bif-swatch" style="background:{color};border-radius:50%"></span>'
                    f"{html.escape(label)}</div>")
    return f'<div class="bif-legend"><div class="bif-legend-title">{html.escape(title)}</div>{"".join(rows)}</div>'


def district_features(districts, tolerance_m: float = 8.0, names: Mapping[int, str] | None = None) -> dict:
    """GeoJSON (EPSG:4326) of the districts, simplified in the stored metric CRS. ``names``
    ({district_id: name}, e.g. the city profile's) replace the dataset's ``name`` column."""
    frame = districts[["district_id", "geometry"]].copy()
    if names is not None:
        frame["name"] = [names.get(int(d), str(d)) for d in districts["district_id"]]
    else:
        frame["name"] = districts["name"].to_numpy()
    if frame.crs is not None and frame.crs.is_projected:
        frame["geometry"] = frame.geometry.simplify(tolerance_m, preserve_topology=True)
    frame = frame.to_crs(4326)
    frame["district_id"] = frame["district_id"].astype(int)
    frame["name"] = frame["name"].astype(str)
    data = json.loads(frame.to_json(drop_id=True))
    for feature in data["features"]:
        feature["id"] = feature["properties"]["district_id"]
        feature["geometry"]["coordinates"] = _rounded(feature["geometry"]["coordinates"])
    return data


def _rounded(coords, digits: int = 5):
    """Coordinates to 5 decimals (about 1 m): a smaller page, no visible difference."""
    if isinstance(coords[0], (int, float)):
        return [round(c, digits) for c in coords]
    return [_rounded(c, digits) for c in coords]


def _bounds(data: dict) -> tuple[tuple[float, float], tuple[float, float]]:
    xs, ys = [], []

    def walk(coords):
        if isinstance(coords[0], (int, float)):
            xs.append(coords[0])
            ys.append(coords[1])
        else:
            for c in coords:
                walk(c)

    for feature in data["features"]:
        walk(feature["geometry"]["coordinates"])
    return (min(ys), min(xs)), (max(ys), max(xs))


def fit_zoom(south: float, west: float, north: float, east: float, width_px: float, height_px: float,
             padding: float = 0.9) -> float:
    """Web-Mercator zoom (in quarter steps) that fits the bounds into width × height pixels."""
    def merc(lat):
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    zoom_x = math.log2(width_px * padding * 360 / (256 * max(east - west, 1e-9)))
    zoom_y = math.log2(height_px * padding * 2 * math.pi / (256 * max(merc(north) - merc(south), 1e-9)))
    return math.floor(min(zoom_x, zoom_y) * 4) / 4


class DistrictMap(widgets.VBox):
    """Offline choropleth of the districts with click-to-select.

    ``selected`` (int or None) is the selected district_id; observe it to react to clicks.
    ``selected_point`` is the id of the last clicked point (school, Kita) or None.
    """

    selected = traitlets.Int(None, allow_none=True)
    selected_point = traitlets.Unicode(None, allow_none=True)

    def __init__(self, districts, *, height: str = "400px", hover_format: Callable[[int], str] | None = None,
                 allow_deselect: bool = True, expected_width_px: int = 700, names: Mapping[int, str] | None = None,
                 label: str = "Stadtteil", label_plural: str = "Stadtteile"):
        import ipyleaflet as L

        self._L = L
        self.label = label
        self.features = district_features(districts, names=names)
        self.names = {f["properties"]["district_id"]: f["properties"]["name"] for f in self.features["features"]}
        self._fill: dict[int, str] = {i: MISSING_COLOR for i in self.names}
        self._hover_text: dict[int, str] = {i: self.names[i] for i in self.names}
        self.hover_format = hover_format
        self.allow_deselect = allow_deselect
        (south, west), (north, east) = _bounds(self.features)
        # one GeoJSON layer per district: restyling (values, selection) then only sends the new
        # style of the layers that changed, never the geometry again
        self.district_layers: dict[int, object] = {}
        for feature in self.features["features"]:
            district = feature["properties"]["district_id"]
            layer = L.GeoJSON(data={"type": "FeatureCollection", "features": [feature]},
                              style=self._style_for(district), hover_style={"weight": 3, "color": "#000000"},
                              name=self.names[district])
            layer.on_click(self._clicked)
            layer.on_hover(self._hovered)
            self.district_layers[district] = layer
        self.layer = L.LayerGroup(layers=tuple(self.district_layers.values()), name=label_plural)
        self.points_layer = None
        self._hover_line = ""
        self.info = widgets.HTML()
        self.legend = widgets.HTML("")
        zoom = fit_zoom(south, west, north, east, expected_width_px, float(height.rstrip("px")))
        self.map = L.Map(center=((south + north) / 2, (west + east) / 2), zoom=zoom, layers=(self.layer,),
                         panes={POINTS_PANE: {"zIndex": 450}},
                         scroll_wheel_zoom=False, attribution_control=False, zoom_snap=0.25, zoom_delta=0.5,
                         layout=widgets.Layout(height=height, width="100%"))
        self.map.add(L.WidgetControl(widget=self.legend, position="bottomright"))
        self.map.add(L.WidgetControl(widget=self.info, position="topright"))
        self.map.add_class("bif-map")
        super().__init__(children=[self.map])
        self.add_class("bif-district-map")
        self._show_info()

    # --- styling ------------------------------------------------------------------------------
    def _style_for(self, district: int) -> dict:
        chosen = district == self.selected
        return {"fillColor": self._fill.get(district, MISSING_COLOR), "fillOpacity": 0.85,
                "color": SELECTED_COLOR if chosen else OUTLINE_COLOR, "weight": 4 if chosen else 1, "opacity": 1}

    def style_of(self, district: int) -> dict:
        """The style the district is drawn with."""
        return dict(self.district_layers[district].style)

    def _refresh(self) -> None:
        for district, layer in self.district_layers.items():
            style = self._style_for(district)
            if layer.style != style:
                layer.style = style

    def set_values(self, values: Mapping[int, float], *, title: str, decimals: int = 0, suffix: str = "",
                   labels: Mapping[int, str] | None = None, diverging: bool = False,
                   missing_label: str | None = "keine Angabe", points: Mapping[str, str] | None = None) -> None:
        """Colour districts by ``values`` ({district_id: value}); ``labels`` are the hover texts."""
        numbers = [values.get(i, np.nan) for i in self.names]
        palette = DIVERGING if diverging else SEQUENTIAL
        breaks = diverging_breaks(numbers) if diverging else class_breaks(numbers)
        self._fill = {i: color_for(values.get(i, np.nan), breaks, palette) for i in self.names}
        self._hover_text = {i: (labels or {}).get(i) or
                            f"{self.names[i]}: {format_number(values.get(i, np.nan), decimals)}{suffix}"
                            for i in self.names}
        self.legend.value = legend_html(title, breaks, palette, decimals, suffix, missing_label, points)
        self._refresh()

    def set_plain(self, labels: Mapping[int, str] | None = None, color: str = "#e6edf5") -> None:
        """All districts in one light colour (for maps whose message is in the points)."""
        self._fill = {i: color for i in self.names}
        self._hover_text = {i: (labels or self.names).get(i, self.names[i]) for i in self.names}
        self._refresh()

    def _show_info(self) -> None:
        """Two lines: the selection (or how to select) and what the mouse points at."""
        if self.selected is None:
            first = f'<span class="bif-muted">{html.escape(self.label)} anklicken, um auszuwählen</span>'
        else:
            first = f"<b>Ausgewählt:</b> {html.escape(self.names.get(self.selected, ''))}"
        second = f'<div class="bif-hover">{html.escape(self._hover_line)}</div>' if self._hover_line else ""
        self.info.value = f"<div>{first}</div>{second}"

    @traitlets.observe("selected")
    def _selection_changed(self, change) -> None:
        self._refresh()
        self._show_info()

    # --- events -------------------------------------------------------------------------------
    def _clicked(self, event=None, feature=None, properties=None, id=None, **kwargs) -> None:  # noqa: A002
        props = properties or (feature or {}).get("properties", {})
        district = props.get("district_id")
        if district is None:
            return
        district = int(district)
        self.selected = None if (self.allow_deselect and self.selected == district) else district

    def _hovered(self, feature=None, properties=None, **kwargs) -> None:
        props = properties or (feature or {}).get("properties", {})
        label = props.get("label")
        if label is None and props.get("district_id") is not None:
            label = self._hover_text.get(int(props["district_id"]), props.get("name", ""))
        self._hover_line = label or ""
        self._show_info()

    # --- points -------------------------------------------------------------------------------
    def set_points(self, points: pd.DataFrame, *, name: str = "Standorte") -> None:
        """Points: columns id, lat, lon, label, color or over (True/False/None), [radius].
        Clicking one sets ``selected_point``."""
        L = self._L
        if "color" not in points.columns:
            points = points.assign(color=[POINT_COLORS.get(None if v is None or v is pd.NA else bool(v))
                                          for v in points.get("over", [None] * len(points))])
        features = []
        for row in points.itertuples(index=False):
            radius = float(getattr(row, "radius", 7))
            features.append({
                "type": "Feature", "id": str(row.id),
                "geometry": {"type": "Point", "coordinates": [float(row.lon), float(row.lat)]},
                "properties": {"id": str(row.id), "label": str(row.label),
                               "style": {"radius": radius, "fillColor": row.color, "color": "#222222",
                                         "weight": 3 if str(row.id) == self.selected_point else 1,
                                         "fillOpacity": 0.95, "opacity": 1}},
            })
        data = {"type": "FeatureCollection", "features": features}
        if self.points_layer is not None and self.points_layer.data == data:
            return  # unchanged: send nothing
        if self.points_layer is None:
            self.points_layer = L.GeoJSON(data=data, point_style={"radius": 7, "fillOpacity": 0.95, "weight": 1,
                                                                  "pane": POINTS_PANE},
                                          style={"fillOpacity": 0.95, "opacity": 1, "color": "#222222"},
                                          hover_style={"weight": 3}, name=name, pane=POINTS_PANE)
            self.points_layer.on_click(self._point_clicked)
            self.points_layer.on_hover(self._hovered)
            self.map.add(self.points_layer)
        else:
            self.points_layer.data = data

    def point_legend(self, title: str, labels: Mapping) -> None:
        """Legend for points: {True/False/None: label} in the colours of POINT_COLORS."""
        rows = "".join(f'<div><span class="bif-swatch" style="background:{POINT_COLORS[k]};border-radius:50%">'
                       f"</span>{html.escape(v)}</div>" for k, v in labels.items())
        self.legend.value = (f'<div class="bif-legend"><div class="bif-legend-title">{html.escape(title)}</div>'
                             f"{rows}</div>")

    def _point_clicked(self, event=None, feature=None, properties=None, **kwargs) -> None:
        props = properties or (feature or {}).get("properties", {})
        point = props.get("id")
        if point is not None:
            self.selected_point = None if (self.allow_deselect and self.selected_point == point) else str(point)
