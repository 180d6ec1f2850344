"""The planning apps: one module per bundled app, what it loads and what it shows.

==================  ==========================================================================
``bevoelkerung``    „Bevölkerung nach Stadtteilen“: Sozialatlas indicators, age pyramid
``kita``            „Kita-Versorgung nach Stadtteilen“: children against Kita places
``schulbedarf``     „Schulbedarfsprognose Grundschulen“: pupils, classes, school capacity
``atlas``           the Sozialatlas indicator catalogue (``bevoelkerung``, analysts' notebooks)
``common``          what several apps share: :class:`~bif_lib.apps.views.common.ViewTable`,
                    district names and geometry, the projection (:class:`~bif_lib.apps.views.common.Projector`)
==================  ==========================================================================

An app module holds pure view functions (tables, chart data, map values, German texts; tested
without widgets), a loader for its data, the app class with its widgets and reactions, and
``show()``, the one call of its notebook in ``notebooks/apps/``::

    from bif_lib.apps.views import kita

    kita.show()

Nothing is imported here, so that a kernel imports only the app it runs. How to add an app:
docs/apps.md, *Building an app*.
"""
