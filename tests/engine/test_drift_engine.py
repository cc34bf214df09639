"""`hdh drift` phases through the real engine, on a throwaway stack that was never deployed:
nothing to refresh, every resource still to create (drift), an empty export passes the pack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ground.paths import ROOT
from hdh.drift import UNNAMED, DriftError, detect
from hdh.engine import ThrowawayProject, use_shared_venv

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


def test_a_change_made_by_hand_is_drift_then_up_makes_it_clean(tmp_path: Path) -> None:
    """A deployed resource (a dynamic one: its real state is a file) changed behind the state's
    back: refresh and preview both name it, exactly as the engine's JSON reports it."""
    project = ThrowawayProject(tmp_path, "local", PINNED)
    prog = project.dir / "drift-file"
    shutil.copytree(Path(__file__).parent / "programs" / "drift_file", prog)
    (prog / ".venv").symlink_to(ROOT / ".venv")
    use_shared_venv(prog / "Pulumi.yaml")
    target = tmp_path / "watched.txt"

    def run(*args: str, **_: Any) -> Any:
        import subprocess

        return subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=prog,
            env=project.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    assert run("stack", "init", "drift").returncode == 0
    assert run("config", "set", "path", str(target)).returncode == 0
    up = run("up", "--yes", "--skip-preview")
    assert up.returncode == 0, up.stdout + up.stderr
    history = tmp_path / "h.jsonl"
    phases = ("refresh", "preview", "policy")
    clean = detect("drift", run, history=history, phases=phases)
    assert clean["drift"] is False, clean["phases"]

    target.write_text("changed by hand\n")
    drifted = detect("drift", run, history=history, phases=phases)
    assert drifted["drift"] is True
    # The engine's preview-only refresh counts the change without naming it; preview names it.
    assert drifted["phases"]["refresh"] == {
        "status": "drift",
        "changes": [{"op": "update", "urn": UNNAMED, "diff": ""}],
    }
    (change,) = drifted["phases"]["preview"]["changes"]
    assert change["op"] == "update" and change["urn"].endswith("::watched"), change
    assert drifted["phases"]["policy"]["status"] == "clean"

    target.unlink()
    gone = detect("drift", run, history=history, phases=phases)
    assert [
        (c["op"], c["urn"].rsplit("::", 1)[-1]) for c in gone["phases"]["refresh"]["changes"]
    ] == [("delete", "watched")]
    assert gone["phases"]["preview"]["changes"][0]["op"] == "create", gone["phases"]

    assert run("up", "--yes", "--skip-preview", "--refresh").returncode == 0
    again = detect("drift", run, history=history, phases=phases)
    assert again["drift"] is False and target.read_text() == "approved content\n"
    assert [json.loads(x)["drift"] for x in history.read_text().splitlines()] == [
        False,
        True,
        True,
        False,
    ]
    run("destroy", "--yes", "--skip-preview")
