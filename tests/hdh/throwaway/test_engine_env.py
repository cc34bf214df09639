"""`hdh env` with the real engine and a file:// backend, no cloud: teardown after a failed `up`,
and the reaper over expired, unexpired, in-use, stale-locked and non-throwaway stacks.

The reaper runs with --no-orphans here (the cloud scan is in tests/localcloud/test_env_local.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pulumi import automation as auto

from ground.paths import ROOT
from hdh.throwaway import locks, names
from hdh.throwaway.workspace import project, render_stack_file, workspace

pytestmark = pytest.mark.engine
HDH = [sys.executable, "-m", "hdh.cli", "--progress", "plain"]
PAST, FUTURE = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment of a run: its own backend, cache and passphrase; a cloud nobody listens on."""
    yield {
        **os.environ,
        "HDH_CACHE": str(tmp_path / "cache"),
        "HDH_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "engine-test-only",
        # The local profile's auth URL is 127.0.0.1:5000: with no cloud up, connection refused.
        "OS_USERNAME": "nobody",
        "OS_PASSWORD": "nothing",
        "OS_PROJECT_NAME": "none",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
    }


def hdh(env: dict[str, str], *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HDH, *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def backend_files(env: dict[str, str]) -> list[str]:
    state = Path(env["HDH_BACKEND_URL"].removeprefix("file://"))
    return sorted(str(p.relative_to(state)) for p in state.rglob("*") if p.is_file())


def test_cycle_on_an_unreachable_cloud_fails_at_up_and_leaves_nothing(
    sandbox: dict[str, str], tmp_path: Path
) -> None:
    res = hdh(
        sandbox,
        "env",
        "cycle",
        "--from",
        "local",
        "--ttl",
        "1h",
        "--id",
        "unreach",
        "--json",
        str(tmp_path / "c.json"),
        "--junit",
        str(tmp_path / "c.xml"),
    )
    assert res.returncode == 1, res.stderr[-3000:]
    doc = json.loads((tmp_path / "c.json").read_text())
    status = {p["name"]: p["status"] for p in doc["phases"]}
    assert status == {
        "create": "passed",
        "up": "failed",
        "policy": "not-run",
        "ssh": "not-run",
        "harden": "not-run",
        "verify": "not-run",
        "destroy": "passed",
        "remove": "passed",
    }
    up = next(p for p in doc["phases"] if p["name"] == "up")
    # Refused, or (the cloud tier may run beside) Keystone refusing a user that does not exist.
    assert "127.0.0.1:5000" in up["detail"] or "401" in up["detail"], up["detail"]
    assert backend_files(sandbox) == [".pulumi/meta.yaml", ".pulumi/meta.yaml.attrs"]
    assert not (Path(sandbox["HDH_CACHE"]) / "envs" / "tw-local-unreach").exists()
    assert "<failure" in (tmp_path / "c.xml").read_text()


def test_down_of_a_stack_that_is_gone_is_not_an_error(sandbox: dict[str, str]) -> None:
    res = hdh(sandbox, "env", "down", "tw-local-gone")
    assert res.returncode == 0 and "no such stack" in res.stderr
    res = hdh(sandbox, "env", "verify", "tw-local-gone")
    assert res.returncode == 2 and res.stderr.strip().endswith("no such stack on the backend")


def _make(ws: auto.LocalWorkspace, name: str, tags: dict[str, str]) -> None:
    auto.Stack.create(name, ws)
    for k, v in tags.items():
        ws.set_tag(name, k, v)


def _tags(base: str, expires: str) -> dict[str, str]:
    return {
        names.TAG_THROWAWAY: "true",
        names.TAG_BASE: base,
        names.TAG_EXPIRES: expires,
        names.TAG_OWNER: "engine-test",
    }


def _killed_mid_update(ws: auto.LocalWorkspace, env: dict[str, str], name: str) -> None:
    """`pulumi up` killed with SIGKILL once it holds the stack's update lock (a killed CI job)."""
    render_stack_file("local", name, {"hdh:expiresAt": PAST}, Path(ws.work_dir), check=False)
    assert ws.pulumi_command is not None
    proc = subprocess.Popen(
        [ws.pulumi_command.command, "up", "--yes", "--non-interactive", "--stack", name],
        cwd=ws.work_dir,
        env={**ws.env_vars},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = Path(env["HDH_BACKEND_URL"].removeprefix("file://"))
    lock_dir = state / ".pulumi" / "locks" / "organization" / "hdh" / name
    deadline = time.monotonic() + 60
    while not list(lock_dir.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(lock_dir.glob("*.json")), "pulumi never took its lock"


def test_reaper_takes_expired_throwaways_only(
    sandbox: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("HDH_CACHE", "HDH_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"):
        monkeypatch.setenv(key, sandbox[key])
    ws = workspace(project(tmp_path / "setup"), sandbox["HDH_BACKEND_URL"])
    stacks = {
        "tw-local-old1": _tags("local", PAST),  # expired: destroyed
        "tw-local-new1": _tags("local", FUTURE),  # not yet: kept
        "tw-local-held": _tags("local", PAST),  # expired but a cycle holds it: skipped
        "tw-local-dead": _tags("local", PAST),  # expired, stale Pulumi lock: cancelled, destroyed
        "local": _tags("local", PAST),  # a committed stack, whatever its tags say
        "prod-db": _tags("prod", PAST),  # not a throwaway name
        "tw-local-notag": {},  # named like one, never tagged
        "tw-ovh-gra-mism": _tags("local", PAST),  # base tag and name disagree
        "tw-local-badexp": _tags("local", "soon"),  # no valid expiry
    }
    for name, tags in stacks.items():
        _make(ws, name, tags)
    _killed_mid_update(ws, sandbox, "tw-local-dead")
    held = locks.for_stack(sandbox["HDH_BACKEND_URL"], "tw-local-held")
    assert held.acquire()

    listed = hdh(sandbox, "env", "list", "--json")
    rows = {r["stack"]: r for r in json.loads(listed.stdout)}
    assert {s for s, r in rows.items() if r["throwaway"]} == {
        "tw-local-old1",
        "tw-local-new1",
        "tw-local-held",
        "tw-local-dead",
    }
    assert rows["tw-local-new1"]["state"].startswith("expires in")
    assert rows["tw-local-old1"]["expired"] and not rows["tw-local-new1"]["expired"]
    assert rows["prod-db"]["state"] == "tagged throwaway but not named tw-<base>-<id>"

    dry = hdh(
        sandbox, "env", "reap", "--dry-run", "--no-orphans", "--json", str(tmp_path / "d.json")
    )
    assert dry.returncode == 0, dry.stderr[-2000:]
    actions = {
        r["stack"]: r["action"] for r in json.loads((tmp_path / "d.json").read_text())["stacks"]
    }
    assert {s for s, a in actions.items() if a == "would destroy"} == {
        "tw-local-old1",
        "tw-local-held",
        "tw-local-dead",
    }
    assert set(actions) == set(stacks), "a dry run removes nothing"

    # Two reapers at once: one does the work, the other sees it running; neither fails.
    procs = [
        subprocess.Popen(
            [*HDH, "env", "reap", "--no-orphans", "--json", str(tmp_path / f"r{i}.json")],
            env=sandbox,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    runs = [json.loads((tmp_path / f"r{i}.json").read_text()) for i in range(2)]
    worked = [r for r in runs if not r["skipped"]]
    assert len(worked) >= 1
    done = {r["stack"]: r for r in worked[0]["stacks"]}
    assert done["tw-local-old1"]["action"] == "destroyed"
    assert done["tw-local-dead"]["action"] == "destroyed"
    assert done["tw-local-held"]["action"] == "skipped"
    assert done["tw-local-new1"]["action"] == "kept"
    for name in ("local", "prod-db", "tw-local-notag", "tw-ovh-gra-mism", "tw-local-badexp"):
        assert done[name]["action"] == "ignored", done[name]

    left = {s.name for s in ws.list_stacks()}
    assert left == set(stacks) - {"tw-local-old1", "tw-local-dead"}
    assert not [f for f in backend_files(sandbox) if "tw-local-old1" in f or "tw-local-dead" in f]
    for name in ("local", "prod-db", "tw-ovh-gra-mism"):
        assert stacks[name].items() <= dict(ws.list_tags(name)).items(), "others' tags untouched"

    held.release()
    again = hdh(sandbox, "env", "reap", "--no-orphans")
    assert again.returncode == 0 and "destroyed      tw-local-held" in again.stdout


def test_reaper_without_cloud_credentials_says_so_in_one_line(sandbox: dict[str, str]) -> None:
    env = {k: v for k, v in sandbox.items() if not k.startswith("OS_")}
    res = hdh(env, "env", "reap")
    assert res.returncode == 2, res.stderr[-2000:]
    assert res.stderr.strip().splitlines()[-1].startswith("orphan scan: cannot reach the cloud")
    assert "Traceback" not in res.stderr
    assert hdh(env, "env", "reap", "--no-orphans").returncode == 0
