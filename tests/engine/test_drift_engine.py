"""`hdh drift` phases through the real engine, on a throwaway stack that was never deployed:
nothing to refresh, every resource still to create (drift), an empty export passes the pack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hdh.drift import DriftError, detect
from hdh.engine import ThrowawayProject

pytestmark = pytest.mark.engine
PINNED = {
    "hdh:imageId": "5f0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a01",
    "hdh:externalNetworkId": "6a0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a02",
}


def test_never_deployed_stack_drifts_by_its_creates(tmp_path: Path) -> None:
    project = ThrowawayProject(tmp_path, "local", PINNED)

    def run(*args: str, **_: Any) -> Any:
        return project.run(*args, check=False)

    history = tmp_path / "history.jsonl"
    record = detect("local", run, history=history, phases=("refresh", "preview", "policy"))
    phases = record["phases"]
    assert phases["refresh"] == {"status": "clean", "changes": []}
    creates = [c for c in phases["preview"]["changes"] if c["op"] == "create"]
    assert phases["preview"]["status"] == "drift" and len(creates) > 50
    assert any(c["urn"].endswith("::bubble-demo-cardio-store-vol") for c in creates)
    assert phases["policy"]["status"] == "clean" and phases["policy"]["resources"] == 0
    assert record["drift"] is True
    assert json.loads(history.read_text()) == json.loads(json.dumps(record))


def test_a_failing_preview_is_an_error_not_drift(tmp_path: Path) -> None:
    """The external network lookup needs the API: without the pin, preview fails."""
    project = ThrowawayProject(tmp_path, "local", {"hdh:imageId": PINNED["hdh:imageId"]})

    def run(*args: str, **_: Any) -> Any:
        return project.run(*args, check=False)

    with pytest.raises(DriftError, match="pulumi preview --refresh failed"):
        detect("local", run, history=tmp_path / "h.jsonl", phases=("preview",))
    assert not (tmp_path / "h.jsonl").exists()
