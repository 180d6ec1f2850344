"""Widget building blocks of the planning apps (Voilà, ipywidgets; German interface).

* :mod:`~bif_lib.ui.layout` style sheet, header, :class:`TableView`, :class:`ChartView`, controls
* :mod:`~bif_lib.ui.maps` offline, clickable district map (ipyleaflet without tile layer)
* :mod:`~bif_lib.ui.panels` the „Daten & Qualität“ panel
* :mod:`~bif_lib.ui.export` Excel/CSV/PNG downloads as data-URI links (work in Voilà)
* :mod:`~bif_lib.ui.formatting` German HTML tables; :mod:`~bif_lib.ui.charts` PNG charts
* :mod:`~bif_lib.ui.loading` spinner and German error messages; :mod:`~bif_lib.ui.editors` input tables

The numbers behind every view come from :mod:`bif_lib.planning.views` (no widgets there).
"""

from bif_lib.ui.editors import CapacityEditor
from bif_lib.ui.layout import ChartView, TableView, app, dropdown, header, section_title, slider
from bif_lib.ui.loading import Status
from bif_lib.ui.maps import DistrictMap
from bif_lib.ui.panels import DataQualityPanel

__all__ = ["CapacityEditor", "ChartView", "DataQualityPanel", "DistrictMap", "Status", "TableView", "app",
           "dropdown", "header", "section_title", "slider"]
