"""Validation of data against its contract: fields, keys, plausibility rules, one report."""

from .engine import Validator, compile_contract
from .report import Failure, FailureBatch, ValidationReport

__all__ = ["Failure", "FailureBatch", "ValidationReport", "Validator", "compile_contract"]
