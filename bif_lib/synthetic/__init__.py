"""Synthetic register microdata (classified confidential, always labelled synthetic).

See docs/synthetic-register.md. Everything generated here carries
``DataFrame.attrs["bif"]["synthetic"] = True``.
"""

from bif_lib.synthetic.register import (
    PublishedTotals,
    SyntheticRegister,
    aggregate_check,
    generate_register,
    load_bezirke,
)

__all__ = ["PublishedTotals", "SyntheticRegister", "aggregate_check", "generate_register", "load_bezirke"]
