"""Data contracts: one YAML file per dataset (see docs/contracts.md)."""

from bif_lib.contracts.model import (
           CLASSIFICATIONS,
           Contract,
           ContractError,
           Field,
           ForeignKey,
           load_contract,
           load_contracts,
           parse_contract,
)

__all__ = ["CLASSIFICATIONS", "Contract", "ContractError", "Field", "ForeignKey",
           "load_contract", "load_contracts", "parse_contract"]
