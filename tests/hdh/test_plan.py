"""The credential-free plan (hdh/plan.py): its JSON document."""

from __future__ import annotations

import json
from typing import Any

from tests.components.conftest import planned


def test_plan_json_shape() -> None:
    doc: dict[str, Any] = planned("ovh-gra").to_json()
    assert doc["format"] == "hdh-plan/v1"
    assert doc["summary"]["resources"] == len(doc["resources"])
    assert sum(doc["summary"]["byType"].values()) == len(doc["resources"])
    for r in doc["resources"]:
        assert set(r) == {
            "urn",
            "type",
            "name",
            "parent",
            "provider",
            "custom",
            "inputs",
            "id",
            "dependencies",
        }
        assert bool(r["id"]) == r["custom"]  # references between resources resolve by id
        assert r["urn"].startswith("urn:pulumi:ovh-gra::hdh::")
        assert r["urn"].endswith(f"::{r['name']}")
    json.dumps(doc)  # serialisable as is
    inv = doc["outputs"]["inventory"]
    assert {h["role"] for h in inv["hosts"]} == {"bastion", "services", "data", "workspace"}
