"""``python -m bif_lib.cli``: the ``bif`` command without its console script (services, tests)."""

import sys

from bif_lib.cli import main

sys.exit(main())
