"""Synthetic register microdata (classified confidential, always labelled synthetic).

See docs/synthetic-register.md. Everything generated here carries
``DataFrame.attrs["bif"]["synthetic"] = True``. The published totals it is calibrated to are the
verified store datasets the city profile declares (``generated.synthetic_register.totals``).
"""

from bif_lib.synthetic.register import (
    PublishedTotals,
    SyntheticRegister,
    TotalsError,
    aggregate_check,
    generate_register,
    totals_from_profile,
)

__all__ = ["PublishedTotals", "SyntheticRegister", "TotalsError", "aggregate_check", "generate_register",
           "totals_from_profile"]
