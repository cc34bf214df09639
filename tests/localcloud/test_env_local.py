"""Throwaway environments on the local cloud: the CI template's cycle, teardown under injected
failures and SIGTERM, expiry tags on the cloud, and the reaper with stacks and orphans.

What the cloud can exercise depends on its compute driver. With Nova's fake driver no guest
boots: the cycle's `ssh` phase fails (no host answers) and `harden`/`verify` are reported not
run, never passed; teardown is proven all the same. With guests that boot, the cycle must pass.
Costs (fake driver, 2 cores): four deployments of the `local` stack, about 9 minutes in all.
The cycles that harden and check booted guests are the opt-in `cloudhosts` tier (each hardens
four emulated hosts): `HDH_TIERS=cloudhosts scripts/test`.
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
from typing import Any

import pytest
import yaml

from ground.paths import ROOT
from hdh.throwaway import names
from localcloud.paths import Layout, state_dir
from tests.localcloud.conftest import probe

pytestmark = pytest.mark.cloud
HDH = [sys.executable, "-m", "hdh.cli", "--progress", "plain"]
PAST, FUTURE = "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"
SSH_TIMEOUT = "30"  # fake driver: nothing can answer; 30 s shows the phase trying


def hdh(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`hdh <args>` as a CI job runs it, in a fresh process; its exit code is the test's to read."""
    return subprocess.run(
        [*HDH, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


def guests_boot(layout: Layout | None = None) -> bool:
    """Whether the running local cloud boots its instances (not Nova's fake driver).

    Asked before a test points HDH_CACHE at its own directory (or given the cloud's layout):
    the cloud's state stays where the session's `local_cloud` put it.
    """
    conf = (layout or Layout(state_dir())).etc / "nova" / "nova.conf"
    return conf.is_file() and "fake.FakeDriver" not in conf.read_text()


@pytest.fixture
def envs(tmp_path: Path, local_cloud: dict[str, str]) -> Iterator[dict[str, str]]:
    """The environment a CI job gets: cloud credentials, a self-hosted backend, a passphrase."""
    env = {
        **os.environ,
        **local_cloud,
        "HDH_CACHE": str(tmp_path / "cache"),
        "HDH_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "local-cloud-env-test",
        "HDH_SSH_TIMEOUT": "900" if guests_boot() else SSH_TIMEOUT,
    }
    yield env
    # Whatever a failed assertion left: taken down here, so the next test starts clean.
    state = tmp_path / "state" / ".pulumi" / "stacks" / "hdh"
    for f in state.glob("tw-*.json"):
        hdh(env, "env", "down", f.stem, timeout=1800)


def nothing_left(env: dict[str, str], settle: float = 240.0) -> None:
    """Nothing of the environment in any service, nor on the backend.

    With booted guests some deletions finish after `destroy` returns (Nova deletes a boot volume
    once its instance is gone, Cinder then its file and key): asked again until `settle` s.
    """
    deadline = time.monotonic() + settle
    while True:
        left = probe(env, "leftovers")
        left.pop("seconds")
        left = {k: v for k, v in left.items() if v}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(10)
    assert left == {}, f"left in the cloud: {left}"
    state = Path(env["HDH_BACKEND_URL"].removeprefix("file://"))
    files = [str(p.relative_to(state)) for p in state.rglob("*") if p.is_file()]
    assert sorted(files) == [".pulumi/meta.yaml", ".pulumi/meta.yaml.attrs"], files


def phases_of(path: Path) -> dict[str, str]:
    return {p["name"]: p["status"] for p in json.loads(path.read_text())["phases"]}


def expected_checks() -> dict[str, str]:
    if guests_boot():
        return {"ssh": "passed", "harden": "passed", "verify": "passed"}
    # No guest boots: nothing answers SSH, so nothing is hardened nor checked. Said, not faked.
    return {"ssh": "failed", "harden": "not-run", "verify": "not-run"}


def test_the_ci_templates_cycle_job_runs_the_whole_cycle_and_leaves_nothing(
    envs: dict[str, str], tmp_path: Path
) -> None:
    """GitLab's hdh-cycle job, script then after_script, as the runner would run them."""
    if guests_boot():
        pytest.skip(
            "booted guests: their bastion answers only inside the cloud's outside namespace, "
            "which a CI job's shell cannot reach from here (the in-process cycle below does, "
            "with --bastion through a forward)"
        )
    job = yaml.safe_load((ROOT / "ci" / "gitlab-ci.yml").read_text())["hdh-cycle"]
    reports = tmp_path / "reports"
    env = {
        **envs,
        "CI": "true",
        "CI_PROJECT_DIR": str(ROOT),
        "CI_PIPELINE_ID": "4242",
        "HDH_CYCLE_STACK": "local",
        "HDH_TTL": "1h",
        "HDH_ENV_ID": "gl4242",
        "HDH_REPORTS": str(reports),
    }
    start = time.monotonic()
    script = subprocess.run(
        ["bash", "-ec", "\n".join(job["script"])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    seconds = time.monotonic() - start
    after = subprocess.run(
        ["bash", "-ec", "\n".join(job["after_script"])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    status = phases_of(reports / "cycle.json")
    assert status == {
        "create": "passed",
        "up": "passed",
        "policy": "passed",
        **expected_checks(),
        "destroy": "passed",
        "remove": "passed",
    }, script.stderr[-4000:]
    assert script.returncode == (0 if guests_boot() else 1)
    assert after.returncode == 0 and "no such stack" in after.stderr, after.stderr
    for f in ("cycle.xml", "policy.xml", "policy.sarif", "policy.json", "down.json"):
        assert (reports / f).is_file(), f
    nothing_left(env)
    phases = json.loads((reports / "cycle.json").read_text())["phases"]
    print(
        f"\ncycle job: {seconds:.0f} s; "
        + ", ".join(f"{p['name']} {p['seconds']} s" for p in phases)
    )


def test_sigterm_in_the_middle_of_up_tears_down(envs: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    proc = subprocess.Popen(
        [
            *HDH,
            "env",
            "cycle",
            "--from",
            "local",
            "--ttl",
            "1h",
            "--id",
            "sigterm",
            "--json",
            str(out),
        ],
        env=envs,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state = Path(envs["HDH_BACKEND_URL"].removeprefix("file://"))
    checkpoint = state / ".pulumi" / "stacks" / "hdh" / "tw-local-sigterm.json"
    deadline = time.monotonic() + 600
    created = 0
    while created < 15 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(2)
        try:
            created = len(json.loads(checkpoint.read_text())["checkpoint"]["latest"]["resources"])
        except (OSError, ValueError, KeyError, TypeError):
            created = 0
    assert created >= 15, "up never got going"
    proc.send_signal(signal.SIGTERM)  # a cancelled CI job
    _, err = proc.communicate(timeout=1800)
    assert proc.returncode == 143, err[-3000:]
    status = phases_of(out)
    assert status["up"] == "interrupted"
    assert {status[p] for p in ("policy", "ssh", "harden", "verify")} == {"not-run"}
    assert (status["destroy"], status["remove"]) == ("passed", "passed"), err[-3000:]
    nothing_left(envs)


class BastionWay:
    """With booted guests: the bastion's floating IP lives in the cloud's outside namespace, so
    the cycle reaches it through the local cloud's forward (--bastion), opened once `up` has
    given the address. Nothing to open with the fake driver."""

    def __init__(self) -> None:
        # Made before the cycle's HDH_CACHE (a scratch directory) is set: the cloud's own.
        self.layout = Layout(state_dir())
        self.boots = guests_boot(self.layout)
        self.forward: Any = None

    def __call__(self, phase: str, env: Any) -> None:
        if phase != "ssh" or not self.boots or self.forward is not None:
            return
        from localcloud.access import BastionForward  # the real-guest local cloud's helper

        fip = env.stack.outputs()["inventory"].value["bastion"]["address"]
        self.forward = BastionForward(fip, layout=self.layout).start()
        env.opts.bastion = ("127.0.0.1", self.forward.port)

    def close(self) -> None:
        if self.forward is not None:
            self.forward.stop()


def _cycle_in_process(
    envs: dict[str, str], monkeypatch: pytest.MonkeyPatch, phase: str, ident: str
) -> Any:
    from hdh.throwaway.cycle import Options
    from hdh.throwaway.verbs import cycle

    class InjectedFailure(Exception):
        pass

    way = BastionWay()

    def hook(name: str, env: Any) -> None:
        way(name, env)
        if name == phase:
            raise InjectedFailure(f"injected during {phase}")

    for key in (
        "HDH_CACHE",
        "HDH_BACKEND_URL",
        "PULUMI_CONFIG_PASSPHRASE",
        *(k for k in envs if k.startswith("OS_")),
    ):
        monkeypatch.setenv(key, envs[key])
    opts = Options(base="local", ident=ident, ssh_timeout=float(envs["HDH_SSH_TIMEOUT"]))
    try:
        return cycle(opts, hook=hook)
    finally:
        way.close()


def test_a_failure_injected_after_up_tears_down(
    envs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Injected as the first phase that needs the hosts starts (policy has passed by then): on
    # booted guests a failure at `policy` would still harden them, which is the opt-in tier's.
    report = _cycle_in_process(envs, monkeypatch, "ssh", "afterup")
    p = report.phase("ssh")
    assert (p.status, p.detail) == ("failed", "InjectedFailure: injected during ssh")
    assert report.phase("policy").status == "passed"
    assert {report.phase(n).status for n in ("harden", "verify")} == {"not-run"}
    assert report.phase("destroy").status == "passed" and report.phase("remove").status == "passed"
    assert report.exit_code == 1
    nothing_left(envs)


@pytest.mark.cloudhosts
def test_the_whole_cycle_passes_on_booted_guests(
    envs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not guests_boot():
        pytest.skip(
            "no guest boots on this local cloud (Nova's fake driver): see the template "
            "job's test, where ssh fails and harden/verify are not run"
        )
    report = _cycle_in_process(envs, monkeypatch, "none", "booted")
    assert report.passed, report.summary_lines()
    nothing_left(envs)


@pytest.mark.cloudhosts
@pytest.mark.parametrize("phase", ["harden", "verify"])
def test_a_failure_injected_during_hardening_or_checks_tears_down(
    phase: str, envs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not guests_boot():
        pytest.skip(
            f"no guest boots on this local cloud (Nova's fake driver): {phase} cannot "
            "start, so a failure during it cannot be injected"
        )
    report = _cycle_in_process(envs, monkeypatch, phase, f"in{phase}")
    assert report.phase(phase).status == "failed"
    assert report.phase("destroy").status == "passed" and report.phase("remove").status == "passed"
    nothing_left(envs)


def _connect(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    import openstack

    for key, value in env.items():
        if key.startswith("OS_"):
            monkeypatch.setenv(key, value)
    return openstack.connect()


def test_expiry_tags_then_the_reaper_takes_expired_stacks_and_orphans_only(
    envs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "tw-local-kept1"
    up = hdh(envs, "env", "up", "--from", "local", "--ttl", "1h", "--id", "kept1", timeout=3600)
    assert up.returncode == 0 and up.stdout.strip() == name, up.stderr[-3000:]
    conn = _connect(envs, monkeypatch)
    # The expiry is on the backend and on every taggable resource of the stack.
    from hdh.throwaway.orphans import scan
    from hdh.throwaway.workspace import project, workspace

    for key in ("HDH_CACHE", "HDH_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"):
        monkeypatch.setenv(key, envs[key])
    ws = workspace(project(tmp_path / "ws"), envs["HDH_BACKEND_URL"])
    tags = dict(ws.list_tags(name))
    assert tags[names.TAG_THROWAWAY] == "true" and tags[names.TAG_BASE] == "local"
    tagged = scan(conn)
    kinds = {t.kind for t in tagged if t.stack == name}
    assert kinds >= {
        "server",
        "network",
        "subnet",
        "router",
        "port",
        "security_group",
        "volume",
        "container",
        "floating_ip",
    }, kinds
    assert {names.format_time(t.expires) for t in tagged if t.expires} == {tags[names.TAG_EXPIRES]}

    verify = hdh(envs, "env", "verify", name, "--json", str(tmp_path / "v.json"), timeout=3600)
    status = phases_of(tmp_path / "v.json")
    assert status == {"policy": "passed", **expected_checks()}, verify.stderr[-3000:]

    # Orphans: resources whose stack is gone; and resources the reaper must never touch.
    def network(name: str, *tags: str) -> Any:
        net = conn.network.create_network(name=name)  # Zed takes no tags in the POST
        conn.network.set_tags(net, list(tags))
        return net

    lost = network("orphan-expired", "stack=tw-local-lost1", f"expires-at={PAST}")
    young = network("orphan-young", "stack=tw-local-lost2", f"expires-at={FUTURE}")
    perm = network("permanent", "stack=local", f"expires-at={PAST}")
    untagged = network("untagged", "stack=tw-local-lost3")
    vol = conn.block_storage.create_volume(
        size=1,
        name="orphan-vol",
        volume_type="luks",
        metadata={"stack": "tw-local-lost1", "expires-at": PAST},
    )
    conn.block_storage.wait_for_status(vol, "available", wait=300)
    ws.set_tag(name, names.TAG_EXPIRES, PAST)  # time passes

    dry = hdh(envs, "env", "reap", "--dry-run", "--json", str(tmp_path / "d.json"), timeout=600)
    assert dry.returncode == 0, dry.stderr[-3000:]
    plan = json.loads((tmp_path / "d.json").read_text())
    assert [(s["stack"], s["action"]) for s in plan["stacks"]] == [(name, "would destroy")]
    would = {(o["kind"], o["name"]) for o in plan["orphans"] if o["action"] == "would delete"}
    assert would == {("network", "orphan-expired"), ("volume", "orphan-vol")}
    assert conn.network.find_network(lost.id) is not None, "a dry run deletes nothing"

    reap = hdh(envs, "env", "reap", "--json", str(tmp_path / "r.json"), timeout=1800)
    assert reap.returncode == 0, reap.stderr[-3000:]
    done = json.loads((tmp_path / "r.json").read_text())
    assert [(s["stack"], s["action"]) for s in done["stacks"]] == [(name, "destroyed")]
    assert conn.network.find_network(lost.id) is None
    assert conn.block_storage.find_volume(vol.id) is None
    for keep in (young, perm, untagged):
        assert conn.network.find_network(keep.id) is not None, keep.name
        conn.network.delete_network(keep.id)
    conn.close()
    nothing_left(envs)
