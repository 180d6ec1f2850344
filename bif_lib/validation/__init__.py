"""Validation of data against its contract: fields, keys, plausibility rules, one report."""

from bif_lib.validation.engine import Validator, compile_contract
from bif_lib.validation.report import Failure, FailureBatch, ValidationReport

__all__ = ["Failure", "FailureBatch", "ValidationReport", "Validator", "compile_contract"]
