"""The planners' wing: everything between a published notebook and the page a planner sees.

==================  ==========================================================================
``views/``          one module per bundled app: what it loads and what it shows
``widgets/``        the shared widget building blocks (tables, charts, map, panels, exports)
``registry``        published app versions on disk (the only module that knows that layout)
``publishing/``     ``bif publish`` and ``publish_from_lab``: checks, sandboxed run, thumbnail
``serving/``        the ``bif-apps`` hub service: gallery, gateway, Voilà and its kernel pools,
                    the Voilà template and the app front end
``access``          who may open and who may publish which app
``account``         the OS account app kernels run under
``config``          the apps' settings, derived from the platform settings
==================  ==========================================================================

Kept free of heavy imports: ``bif_lib.apps.publish_from_lab`` is what analysts call in
JupyterLab; the service and publishing are imported where they are used.
"""

from bif_lib.apps.publishing.lab import LabPublishError, publish_from_lab

__all__ = ["publish_from_lab", "LabPublishError"]
