"""PNG charts: valid PNGs, German tick labels, the synthetic label, and a reused canvas that
does not pile up artists or legend entries."""

import numpy as np
import pandas as pd
from matplotlib.text import Text

from bif_lib.apps.widgets import charts


def texts(canvas) -> list[str]:
    return [t.get_text() for t in canvas.fig.findobj(Text) if t.get_visible() and t.get_text()]


def test_capacity_chart_reused_canvas_stays_clean():
    data = pd.DataFrame({"year": range(2022, 2033), "pupils": np.linspace(2700, 3300, 11),
                         "capacity_places": [3100.0] * 11})
    canvas = charts.Canvas()
    first = charts.capacity_png(data, title="Alle Schulen", synthetic=True, source="Quelle X", canvas=canvas)
    before = texts(canvas)
    for _ in range(3):
        png = charts.capacity_png(data, title="Alle Schulen", synthetic=True, source="Quelle X", canvas=canvas)
    assert png.startswith(b"\x89PNG") and first.startswith(b"\x89PNG")
    assert texts(canvas) == before  # no legend entries or labels pile up
    assert len(canvas.ax.containers) == 2 and len(canvas.ax.patches) == 11
    assert "3.000" in before and "Schüler über Kapazität" in before  # German thousands separator
    assert any("synthetische Daten" in t for t in before)


def test_time_series_modes_and_pyramid():
    series = pd.DataFrame({"year": [2011, 2017, 2018], "district": [100.0, 110.0, 120.0],
                           "city": [1000.0, 1050.0, 1100.0], "district_index": [100.0, 110.0, 120.0],
                           "city_index": [100.0, 105.0, 110.0]})
    canvas = charts.Canvas()
    werte = charts.time_series_png(series, title="T", unit="Personen", district_name="Altstadt",
                                   city_label="Gesamtstadt", additive=True, canvas=canvas)
    assert canvas.ax2.get_visible() and "Gesamtstadt (rechte Achse)" in texts(canvas)
    index = charts.time_series_png(series, title="T", unit="Personen", district_name="Altstadt",
                                   city_label="Gesamtstadt", additive=True, mode="index", canvas=canvas)
    assert werte.startswith(b"\x89PNG") and index.startswith(b"\x89PNG")
    assert not canvas._ax2.get_visible() and "Index (2011 = 100)" in texts(canvas)
    assert charts.time_series_png(series, title="T", unit="%", district_name=None, city_label="Mittelwert",
                                  additive=False).startswith(b"\x89PNG")
    ages = np.arange(101)
    pyramid = pd.DataFrame({"age": ages, "m": 50.0 + 0 * ages, "w": 60.0 + 0 * ages, "city_m": 55.0 + 0 * ages,
                            "city_w": 55.0 + 0 * ages})
    canvas = charts.Canvas(charts.PYRAMID_SIZE)
    png = charts.pyramid_png(pyramid, title="Altersaufbau", compare_label="Gesamtstadt", synthetic=True,
                             canvas=canvas)
    assert png.startswith(b"\x89PNG") and "Personen je Altersjahr" in texts(canvas)
    coverage = pd.DataFrame({"year": [2022, 2023], "children": [100.0, 110.0], "demand": [50.0, 55.0],
                             "places": [40.0, 60.0]})
    assert charts.coverage_png(coverage, title="Kita", synthetic=True).startswith(b"\x89PNG")
    assert charts.capacity_png(coverage.assign(pupils=0.0, capacity_places=np.nan)[:0],
                               title="leer").startswith(b"\x89PNG")


def test_reused_background_gives_the_same_picture_as_a_full_redraw():
    """Blitting keeps the unchanged parts as pixels: every redraw must equal a fresh figure's."""
    import io

    from PIL import Image

    def pixels(png: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    years = np.arange(2010, 2023)
    reused = charts.Canvas()
    for k, (scale, gap) in enumerate([(1.0, False), (1.5, False), (2.0, True), (1.0, False), (3.0, True)]):
        city = 1000.0 + 10 * (years - 2010)
        series = pd.DataFrame({"year": years, "district": 100.0 * scale + years - 2010, "city": city,
                               "district_index": np.nan, "city_index": np.nan})
        args = dict(title=f"Stadtteil {k}", unit="Personen", district_name=f"Stadtteil {k}",
                    city_label="Gesamtstadt", additive=True, source="Quelle X")
        assert np.array_equal(pixels(charts.time_series_png(series, canvas=reused, **args)),
                              pixels(charts.time_series_png(series, **args)))
        coverage = pd.DataFrame({"year": years, "children": 100.0 * scale + 0 * years,
                                 "demand": 60.0 * scale + 0 * years, "places": 50.0 if gap else 90.0 * scale})
        kita = charts.Canvas() if k == 0 else kita
        assert np.array_equal(pixels(charts.coverage_png(coverage, title="Kita", synthetic=True, canvas=kita)),
                              pixels(charts.coverage_png(coverage, title="Kita", synthetic=True)))
    assert 0 < len(reused._backgrounds) < 5  # the year axis stayed: backgrounds were reused
