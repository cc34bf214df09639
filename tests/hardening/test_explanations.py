"""hardening/data/scap_explanations.yaml: well-formed, and naming real SSG rules when it can."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cache

import pytest

from hardening import data, explanations
from testbed import scap


@cache
def ssg_rules() -> dict[str, tuple[str, ...]]:
    """{rule id: ANSSI R-numbers} from SSG's data stream, if a testbed run cached it."""
    ds = scap.ssg_dir() / "content" / scap.DATASTREAM
    if not ds.exists():
        pytest.skip("SSG data stream not cached (any testbed scan fetches it)")
    meta = scap.rule_meta(ET.parse(ds).getroot())
    return {rid.removeprefix(scap.RULE_PREFIX): anssi for rid, (_, _, anssi) in meta.items()}


def test_file_is_well_formed() -> None:
    assert explanations.problems() == []
    found = explanations.explanations()
    assert len(found) >= 30
    assert {e.category for e in found.values()} <= set(explanations.CATEGORIES)


def test_rules_and_r_numbers_exist_in_ssg_data_stream() -> None:
    known = ssg_rules()
    assert [str(e) for e in explanations.problems(known)] == []


def test_every_deliberate_deviation_says_why_in_one_line() -> None:
    for e in explanations.explanations().values():
        if e.category == "deliberate-deviation":
            assert len(e.why.split()) >= 8, e


def test_not_applicable_covers_its_kind_only() -> None:
    e = explanations.Explanation("r", "R9", "not-applicable-on-container", "host kernel")
    assert e.covers("container") and not e.covers("vm")
    assert explanations.Explanation("r", "R9", "deliberate-deviation", "why").covers("vm")


def test_problems_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {
        "Bad-Id": {"control": "R9", "category": "deliberate-deviation", "why": "x"},
        "no_why": {"control": "R9", "category": "deliberate-deviation", "why": ""},
        "wrong_r": {"control": "R99", "category": "maybe", "why": "x"},
        "extra_key": {"control": "R9", "category": "fixed-elsewhere", "why": "x", "by": "me"},
        "unknown_rule": {"control": "R9", "category": "fixed-elsewhere", "why": "x"},
        "other_r": {"control": "R12", "category": "fixed-elsewhere", "why": "x"},
    }
    monkeypatch.setattr(data, "load", lambda name: bad)
    msgs = [str(e) for e in explanations.problems({"no_why": ("R9",), "other_r": ("R9",)})]
    path = "hardening/data/scap_explanations.yaml"
    assert msgs == [
        f"{path}: Bad-Id: not an SSG rule id (lower case, digits, underscores, no prefix)",
        f"{path}: no_why: why must be one line of at most 200 characters",
        f"{path}: wrong_r: control 'R99' is not an R-number of BP-028 v2.0",
        f"{path}: wrong_r: category 'maybe' is not one of fixed-elsewhere, deliberate-deviation, "
        "not-applicable-on-container, not-applicable-on-vm",
        f"{path}: wrong_r: no such rule in SSG's data stream",
        f"{path}: extra_key: needs exactly control, category and why",
        f"{path}: unknown_rule: no such rule in SSG's data stream",
        f"{path}: other_r: SSG maps this rule to R9, not R12",
    ]
    with pytest.raises(data.ConfigErrors):
        explanations.explanations()
