"""One research project's bubble (components/bubble.py), on the plan."""

from __future__ import annotations

import json

from hdh.plan import plan_stack
from tests.components.conftest import of_type


def test_bubble_count_comes_from_config() -> None:
    bubbles = [{"name": f"p{i:03d}", "workspaces": 1} for i in range(20)]
    plan = plan_stack("ovh-gra", overrides={"hdh:bubbles": json.dumps(bubbles)})
    assert len(of_type(plan, "hdh:bubble:Bubble")) == 20
    assert len(plan.outputs["bubbles"]) == 20
    names = {h["name"] for h in plan.outputs["inventory"]["hosts"]}
    assert {f"bubble-p{i:03d}-ws0" for i in range(20)} <= names
