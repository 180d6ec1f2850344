"""Apps for planners: publishing notebooks as Voilà apps, the registry, the gallery service.

Kept free of heavy imports: ``bif_lib.platform.apps.publish_from_lab`` is what analysts
call in JupyterLab; the service (``service.py``) and publishing (``publish.py``) are
imported where they are used.
"""

from .lab import LabPublishError, publish_from_lab

__all__ = ["publish_from_lab", "LabPublishError"]
