"""Widget building blocks of the planning apps (Voilà, ipywidgets; German interface).

* :mod:`~bif_lib.apps.widgets.layout` style sheet, header, :class:`TableView`, :class:`ChartView`, controls
* :mod:`~bif_lib.apps.widgets.maps` offline, clickable district map (ipyleaflet without tile layer)
* :mod:`~bif_lib.apps.widgets.panels` the „Daten & Qualität“ panel
* :mod:`~bif_lib.apps.widgets.export` Excel/CSV/PNG downloads as data-URI links (work in Voilà)
* :mod:`~bif_lib.apps.widgets.formatting` German HTML tables; :mod:`~bif_lib.apps.widgets.charts` PNG charts
* :mod:`~bif_lib.apps.widgets.loading` spinner and German error messages; :mod:`~bif_lib.apps.widgets.editors` input tables (capacities, housing pipeline)

The numbers behind every view come from the app modules in :mod:`bif_lib.apps.views`.
"""

from bif_lib.apps.widgets.editors import CapacityEditor, HousingEditor
from bif_lib.apps.widgets.layout import ChartView, TableView, app, dropdown, header, section_title, slider
from bif_lib.apps.widgets.loading import Status
from bif_lib.apps.widgets.maps import DistrictMap
from bif_lib.apps.widgets.panels import DataQualityPanel

__all__ = ["CapacityEditor", "HousingEditor", "ChartView", "DataQualityPanel", "DistrictMap", "Status", "TableView", "app",
           "dropdown", "header", "section_title", "slider"]
