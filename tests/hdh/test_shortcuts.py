"""The plan's shortcuts through the SDK (hdh/shortcuts.py) change its speed, not its result."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from ground.paths import ROOT

CHILD = """
import json, sys
from hdh import plan, shortcuts
if sys.argv[2] == "off":
    shortcuts.install = lambda computed: None
    shortcuts.inline_rpcs = lambda loop: None
doc = plan.plan_stack(sys.argv[1]).to_json()
doc["summary"].pop("seconds")
print(json.dumps(doc, sort_keys=True))
"""


def planned(stack: str, shortcuts: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, stack, shortcuts],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    doc: dict[str, Any] = json.loads(out)
    return doc


@pytest.mark.parametrize("stack", ["scs-de", "ovh-sbg"])  # Magnum and kubeadm: every kind
def test_a_plan_is_the_same_with_and_without_the_shortcuts(stack: str) -> None:
    fast, plain = planned(stack, "on"), planned(stack, "off")
    # Registration order follows the SDK's scheduling, which the shortcuts change; what is
    # registered, with which inputs, ids and dependencies, must not change.
    by_urn = {r["urn"]: r for r in plain.pop("resources")}
    fast_by_urn = {r["urn"]: r for r in fast.pop("resources")}
    assert len(by_urn) > 50
    assert fast_by_urn.keys() == by_urn.keys()
    for urn, res in by_urn.items():
        assert fast_by_urn[urn] == res, urn
    assert fast == plain  # summary and outputs
