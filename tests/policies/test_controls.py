"""Controls as data: every rule's control resolves to requirements with a source; no number is
shown that policies/controls.yaml does not hold as read."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from hardening import data
from policies import controls
from policies.controls import CONTROLS, REQUIREMENTS, SOURCES, TBC, hardening_requirements
from policies.pack import rules


def test_every_rule_maps_to_numbered_or_to_be_confirmed_requirements() -> None:
    for rule in rules():
        for key in rule.frameworks:
            assert key in CONTROLS, f"{rule.id}: unknown control {key}"
            for req in CONTROLS[key].refs:
                assert req.number or TBC in req.label or req.source == "hdh", (rule.id, req)


def test_sources_say_when_they_were_checked() -> None:
    for s in SOURCES.values():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", s.checked), s
        assert s.url or s.read_in or s.id == "hdh", f"{s.id}: where was it read?"


def test_cited_numbers() -> None:
    assert REQUIREMENTS["snc-19.6"].label == "SecNumCloud 3.2 §19.6"
    assert REQUIREMENTS["hds-28-31"].label == "HDS v2 req. 28-31"
    assert REQUIREMENTS["snc-crypto-at-rest"].label == "SecNumCloud 3.2 §10.1"
    assert REQUIREMENTS["anssi-docker-network"].label == "ANSSI-FT-082 R3, R4, R5"
    assert [r.label for r in CONTROLS["hds-hosting-eea"].refs] == ["HDS v2 req. 28"]


def test_a_requirement_not_read_says_so() -> None:
    doc = yaml.safe_load(controls.DATA.read_text())
    doc["requirements"]["snc-secrets"].update(number=None, note=f"{TBC}: section not read")
    reqs = controls._requirements(doc, controls._sources(doc))
    assert reqs["snc-secrets"].label == f"SecNumCloud 3.2: Management of secrets ({TBC})"


def test_hardening_controls_cite_the_operations_requirements() -> None:
    assert hardening_requirements("R73") == [
        "ANSSI BP-028 v2.0 R73",
        "SecNumCloud 3.2 §12.6",
        "SecNumCloud 3.2 §12.7",
        "HDS v2 req. 1",
    ]
    assert hardening_requirements("R12")[1:] == ["SecNumCloud 3.2 §5.1", "HDS v2 req. 1"]


def test_every_bp028_control_has_requirements() -> None:
    for rnum in data.controls():
        labels = hardening_requirements(rnum)
        assert labels[0] == f"ANSSI BP-028 v2.0 {rnum}" and len(labels) > 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["requirements"]["snc-19.6"].update(source="nowhere"), "unknown source"),
        (
            lambda d: d["requirements"]["snc-secrets"].update(number=None, note="trust me"),
            "no number",
        ),
        (lambda d: d["controls"]["snc-location"].update(requirements=["nope"]), "unknown or none"),
        (lambda d: d["controls"]["snc-location"].update(requirements=[]), "unknown or none"),
    ],
)
def test_inconsistent_data_is_refused(mutate: Any, message: str) -> None:
    doc = yaml.safe_load(controls.DATA.read_text())
    mutate(doc)
    with pytest.raises(controls.ControlsDataError, match=message):
        sources = controls._sources(doc)
        controls._controls(doc, controls._requirements(doc, sources))
