"""Validation of data against its contract: fields, keys, plausibility rules, one report."""

from bif_lib.validation.engine import Validator, compile_contract
from bif_lib.validation.report import Failure, FailureBatch, ValidationReport
from bif_lib.validation.rules import referenced_datasets, rule_problems

__all__ = ["Failure", "FailureBatch", "ValidationReport", "Validator", "compile_contract",
           "referenced_datasets", "rule_problems"]
