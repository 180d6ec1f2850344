"""Statistical disclosure control for everything that leaves the statistics office.

* :func:`protect` – microdata to a protected table plus its :class:`Certificate`
  (Cell Key Method as in Zensus 2022, or cell suppression);
* :class:`RecordKeys` – the persistent record keys the Cell Key Method needs;
* :func:`build_ptable`, :func:`default_ptable` – perturbation tables;
* :func:`content_digest`, :func:`format_table` – for the store and for German output.

See docs/disclosure.md.
"""

from bif_lib.disclosure.certificate import Certificate, content_digest
from bif_lib.disclosure.checks import Check, DisclosureError
from bif_lib.disclosure.formatting import STATUS_COLUMN, SUPPRESSED, TOTAL, format_table, format_value
from bif_lib.disclosure.keys import RecordKeys, draw_record_keys
from bif_lib.disclosure.protect import protect
from bif_lib.disclosure.ptable import DEFAULT_PARAMETERS, PTable, build_ptable, default_ptable

__all__ = [
    "Certificate", "Check", "DEFAULT_PARAMETERS", "DisclosureError", "PTable", "RecordKeys", "STATUS_COLUMN",
    "SUPPRESSED", "TOTAL", "build_ptable", "content_digest", "default_ptable", "draw_record_keys",
    "format_table", "format_value", "protect",
]
