"""Contracts are parsed within limits, and no message echoes an unbounded value.

The old parser expanded a 3.5 KB "billion laughs" contract (anchors whose aliases multiply)
into gigabytes inside the error message, crashed on deep nesting with a RecursionError, kept
the last of two equal keys silently and quoted a 100,000-character value in full.
"""

from __future__ import annotations

import pytest
import yaml

from bif_lib.contracts import ContractError, load_contract, model, parse_contract


def _valid_text(make_contract) -> str:
    return yaml.safe_dump(make_contract([("id", "integer")], {"format": "csv"}), allow_unicode=True, sort_keys=False)


def billion_laughs(levels: int = 9) -> str:
    lines = ["a: &a [" + ",".join(['"lol"'] * 9) + "]"]
    names = "abcdefghijklmnop"
    for previous, name in zip(names[:levels - 1], names[1:levels]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + f"\nid: [*{names[levels - 1]}]\n"


def test_billion_laughs_is_refused_without_expanding(make_contract):
    text = billion_laughs()
    assert len(text) < 4000
    with pytest.raises(ContractError) as raised:
        parse_contract(text, "bombe.yaml")
    message = str(raised.value)
    assert "bombe.yaml" in message and "Anker" in message and len(message) < 500


def test_too_many_aliases_and_too_deep_nesting_are_refused():
    many = "a: &a x\nliste: [" + ", ".join(["*a"] * (model.MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(ContractError, match=f"mehr als {model.MAX_ALIASES} Verweise"):
        parse_contract(many)
    deep = "id: " + "[" * (model.MAX_NESTING + 1) + "]" * (model.MAX_NESTING + 1) + "\n"
    with pytest.raises(ContractError, match="zu tief verschachtelt"):
        parse_contract(deep)
    very_deep = "id: " + "[" * 100_000 + "]" * 100_000 + "\n"  # would exhaust the recursion of the composer
    with pytest.raises(ContractError, match="zu tief verschachtelt"):
        parse_contract(very_deep)


def test_a_key_twice_is_ambiguous(make_contract):
    text = _valid_text(make_contract).replace("  format: csv\n", "  format: csv\n  decimal: ','\n  decimal: '.'\n")
    with pytest.raises(ContractError) as raised:
        parse_contract(text)
    assert "„decimal“ steht doppelt" in str(raised.value) and "(Zeile" in str(raised.value)


def test_anchors_in_a_normal_contract_still_work(make_contract):
    raw = make_contract([("a", "integer"), ("b", "integer")], {"format": "csv"})
    text = yaml.safe_dump(raw, sort_keys=False)
    text = text.replace("- name: a\n    type: integer", "- name: a\n    type: integer\n    constraints: &nonneg {minimum: 0}")
    text = text.replace("- name: b\n    type: integer", "- name: b\n    type: integer\n    constraints: *nonneg")
    contract = parse_contract(text)
    assert contract.field("b").constraints == {"minimum": 0}


def test_oversized_file_is_refused_before_reading(tmp_path, make_contract):
    path = tmp_path / "riesig.yaml"
    path.write_text(_valid_text(make_contract) + "#" * (model.MAX_CONTRACT_BYTES + 1), encoding="utf-8")
    with pytest.raises(ContractError, match="höchstens"):
        load_contract(path)


def test_messages_never_echo_unbounded_values(make_contract):
    raw = make_contract([("id", "integer")], {"format": "csv"})
    raw["id"] = "X" * 100_000                     # violates the id pattern
    raw["classification"] = ["offen"] * 50_000   # wrong type, a huge list
    with pytest.raises(ContractError) as raised:
        parse_contract(yaml.safe_dump(raw, sort_keys=False))
    message = str(raised.value)
    assert "gekürzt" in message and len(message) < 2000


def test_shortened_text_keeps_its_commas_and_gets_german_thousands():
    shortened = model._plain("a, b" * 1000, limit=10)
    assert shortened == "a, ba, ba,… (gekürzt, 4.000 Zeichen)"
