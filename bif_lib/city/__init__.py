"""The city profile: everything about one city, as data (``data_contracts/<city>/city.yaml``).

``profile`` reads and checks it; ``district_names`` maps the district names of published files to
the profile's codes. Both sit low in bif_lib's floors (beside the contracts), so that readers,
loaders, planning apps and the platform can all ask the profile instead of knowing a city.
"""

from bif_lib.city.profile import (
    CityProfile,
    Districts,
    SourceFile,
    city_environment,
    current_profile,
    load_profile,
)

__all__ = ["CityProfile", "Districts", "SourceFile", "city_environment", "current_profile", "load_profile"]
