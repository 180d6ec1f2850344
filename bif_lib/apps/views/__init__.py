"""The planning apps: one module per bundled app, what it loads and what it shows.

==================  ==========================================================================
``bevoelkerung``    „Bevölkerung nach Stadtteilen“: published district indicators, age pyramid
``kita``            „Kita-Versorgung nach Stadtteilen“: children against Kita places
``schulbedarf``     „Schulbedarfsprognose Grundschulen“: pupils, classes, school capacity
``atlas``           the district indicator catalogue (``bevoelkerung``, analysts' notebooks)
``common``          what several apps share: :class:`~bif_lib.apps.views.common.ViewTable`,
                    district names and geometry, the projection (:class:`~bif_lib.apps.views.common.Projector`)
==================  ==========================================================================

What each app needs from a city (required and optional inputs, mapped to the city's datasets
in its profile): :mod:`bif_lib.apps.requirements`. District names, codes and the level's
label come from the city profile, never from the code.

An app module holds pure view functions (tables, chart data, map values, German texts; tested
without widgets), a loader for its data, the app class with its widgets and reactions, and
``show()``, the one call of its notebook in ``notebooks/apps/``::

    from bif_lib.apps.views import kita

    kita.show()

Nothing is imported here, so that a kernel imports only the app it runs. How to add an app:
docs/apps.md, *Building an app*.
"""
