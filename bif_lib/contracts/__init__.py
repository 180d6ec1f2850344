"""Data contracts: one YAML file per dataset (see docs/contracts.md)."""

from .model import CLASSIFICATIONS, Contract, ContractError, Field, ForeignKey, load_contract, load_contracts, parse_contract

__all__ = ["CLASSIFICATIONS", "Contract", "ContractError", "Field", "ForeignKey",
           "load_contract", "load_contracts", "parse_contract"]
