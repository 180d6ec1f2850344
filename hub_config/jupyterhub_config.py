"""JupyterHub configuration of BIF.

Deliberately thin: the settings are in hub_config/settings.yaml (plus environment
variables), the logic in bif_lib/platform/hubconfig.py. Start the hub with
`bif platform start`, not by running jupyterhub directly.
"""

import sys
from pathlib import Path

# the checkout must be importable even if bif_lib is not installed into this environment
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bif_lib.platform.hubconfig import configure  # noqa: E402

configure(get_config())  # noqa: F821 - provided by JupyterHub
