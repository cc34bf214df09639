"""The real engine on every committed stack: offline preview, plan agreement, provider checks.

Each stack is previewed once (`pulumi preview --json`) in a throwaway copy of the project with
the real OpenStack and Kubernetes providers and no account: lookups are pinned, a kubeadm stack
gets a stand-in kubeconfig, the same one the credential-free plan uses.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from components.config import available_stacks, load_stack
from components.k8s_baseline import KUBECONFIG_KEY, PLACEHOLDER_KUBECONFIG
from ground.paths import ROOT
from hdh.engine import ThrowawayProject, environment, use_shared_venv
from hdh.plan import plan_stack

pytestmark = pytest.mark.engine
PINNED = {
    "hdh:imageId": "5f0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a01",
    "hdh:externalNetworkId": "6a0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a02",
}
STACKS = available_stacks()
# The engine's text report: "- [mandatory] [severity: critical]  rule-id  (type: name)"
HDH = [sys.executable, "-m", "hdh.cli"]
VIOLATION = re.compile(r"- \[(mandatory|advisory)\].*?\s{2}([a-z0-9-]+)\s{2}\((\S+): ([^)]+)\)")
Key = tuple[str, str, str, str]


@cache
def _previewed(stack: str, workdir: Path) -> tuple[ThrowawayProject, dict[str, Any]]:
    project = ThrowawayProject(workdir / stack, stack, PINNED)
    cfg = load_stack(stack)
    if cfg.settings.kubernetes.enabled and cfg.kubernetes_mode == "kubeadm":
        project.run("config", "set", "--secret", KUBECONFIG_KEY, stdin=PLACEHOLDER_KUBECONFIG)
    return project, project.preview_json()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("engine")


def _engine_keys(preview: dict[str, Any]) -> set[Key]:
    keys = set()
    for step in preview["steps"]:
        state = step["newState"]
        if state["type"] == "pulumi:pulumi:Stack":
            continue
        provider = (state.get("provider") or "").rsplit("::", 1)[0]
        parent = state.get("parent", "")
        parent = "" if parent.split("::")[2:3] == ["pulumi:pulumi:Stack"] else parent
        keys.add((state["type"], state["urn"].rsplit("::", 1)[1], parent, provider))
    return keys


def _plan_keys(stack: str) -> set[Key]:
    plan = plan_stack(stack, overrides=PINNED)
    keys = set()
    for r in plan.resources:
        parent = "" if r.parent.split("::")[2:3] == ["pulumi:pulumi:Stack"] else r.parent
        keys.add((r.type, r.name, parent, r.provider.rsplit("::", 1)[0]))
    return keys


@pytest.mark.parametrize("stack", STACKS)
def test_engine_previews_every_committed_stack_offline(stack: str, workdir: Path) -> None:
    _, preview = _previewed(stack, workdir)
    ops = {s["op"] for s in preview["steps"]}
    assert ops == {"create"}, ops
    assert preview["changeSummary"]["create"] == len(preview["steps"])


@pytest.mark.parametrize("stack", STACKS)
def test_plan_and_engine_register_the_same_resources(stack: str, workdir: Path) -> None:
    _, preview = _previewed(stack, workdir)
    engine, plan = _engine_keys(preview), _plan_keys(stack)
    only_engine = sorted(engine - plan)[:5]
    only_plan = sorted(plan - engine)[:5]
    assert engine == plan, f"engine only: {only_engine}\nplan only: {only_plan}"


def test_policy_check_over_preview_json_agrees_with_the_engine(tmp_path: Path) -> None:
    """Rules the engine's own policy run reports = what `hdh policy check` finds in the same
    program's `preview --json` (a probe program that breaks many rules; tests/policies)."""
    probe = ThrowawayProgram(tmp_path, ROOT / "tests" / "policies" / "engine_program")
    probe.run("config", "set", "--secret", "probe:kubeconfig", stdin=PLACEHOLDER_KUBECONFIG)
    pack = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", pack, ignore=shutil.ignore_patterns("__pycache__"))
    use_shared_venv(pack / "PulumiPolicy.yaml")
    engine_run = probe.run("preview", "--policy-pack", str(pack), check=False)
    assert engine_run.returncode != 0, "the probe breaks mandatory rules"
    # The engine shows a display type ("openstack:blockstorage:Volume"): compare rule + name.
    engine = {m.group(2, 4) for m in VIOLATION.finditer(engine_run.stdout)}
    assert engine, engine_run.stdout[-3000:]
    preview_file = tmp_path / "preview.json"
    preview_file.write_text(probe.run("preview", "--json").stdout)
    check = subprocess.run(
        [*HDH, "policy", "check", "--state", str(preview_file), "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 1, check.stderr
    ours = set()
    for v in json.loads(check.stdout)["violations"]:
        ours.add((v["rule"], v["urn"].rsplit("::", 1)[1]))
    assert ours == engine, f"engine only: {engine - ours}\ncheck only: {ours - engine}"


def _provider_checks(workdir: Path, **config: str) -> subprocess.CompletedProcess[str]:
    src = ROOT / "tests" / "engine" / "programs" / "provider_checks"
    project = ThrowawayProgram(workdir, src)
    for key, value in config.items():
        project.run("config", "set", key, value)
    return project.run("preview", check=False)


class ThrowawayProgram(ThrowawayProject):
    """A tiny test program run the same way as the platform (own state, shared venv)."""

    def __init__(self, workdir: Path, src: Path) -> None:
        self.dir = workdir / "program"
        self.stack = "t"
        shutil.copytree(src, self.dir)
        use_shared_venv(self.dir / "Pulumi.yaml")
        self.env = environment(
            {
                "PATH": "/usr/bin:/bin",
                "HOME": str(Path.home()),
                "PULUMI_CONFIG_PASSPHRASE": "throwaway-program-only",
            },
            backend=f"file://{workdir / 'state'}",
        )
        self.run("stack", "init", "t")


def test_the_provider_refuses_what_its_schema_forbids(tmp_path: Path) -> None:
    good = _provider_checks(tmp_path / "good")
    assert good.returncode == 0, good.stdout + good.stderr
    bad = _provider_checks(tmp_path / "bad", ethertype="IPv5")
    assert bad.returncode != 0
    assert "ethertype" in (bad.stdout + bad.stderr)


def test_the_config_model_refuses_earlier_than_the_provider(tmp_path: Path) -> None:
    """A port the provider would refuse (out of 0-65535) never reaches it: file:key, exit 2."""
    bad = _provider_checks(tmp_path / "port", port="70000")
    assert bad.returncode != 0 and "70000" in (bad.stdout + bad.stderr)
    stack = tmp_path / "Pulumi.ovh-gra.yaml"
    text = (ROOT / "stacks" / "Pulumi.ovh-gra.yaml").read_text()
    stack.write_text(text.replace("config:\n", "config:\n  hdh:proxyPort: 70000\n", 1))
    done = subprocess.run(
        [sys.executable, "-m", "hdh.cli", "plan", "--stack", "ovh-gra", "--stack-file", str(stack)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert f"{stack}: hdh:proxyPort: Input should be less than or equal to 65535" in done.stderr


def test_the_lock_pins_the_sdks_matching_the_engine() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    versions = {p["name"]: p["version"] for p in lock["package"]}
    assert versions["pulumi"] == "3.259.0"
    assert versions["pulumi-openstack"] == "5.5.1"
    assert versions["pulumi-kubernetes"] == "4.32.0"
    assert versions["pulumi-policy"] == "1.21.0"


def test_install_engine_is_idempotent_and_quiet_the_second_time() -> None:
    script = ROOT / "scripts" / "install-engine"
    first = subprocess.run([str(script)], capture_output=True, text=True, check=True)
    again = subprocess.run([str(script)], capture_output=True, text=True, check=True)
    assert first.stdout == again.stdout
    assert again.stderr == "", "a second run must do nothing"
    assert Path(again.stdout.strip(), "pulumi").exists()


def test_install_engine_fails_clearly_without_any_source(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "install-engine"
    script.write_bytes((ROOT / "scripts" / "install-engine").read_bytes())
    script.chmod(0o755)
    done = subprocess.run(
        [str(script)],
        capture_output=True,
        text=True,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "HDH_CACHE": str(tmp_path / "cache"),
            "HDH_ENGINE_TARBALL": str(tmp_path / "nowhere.tar.xz"),
        },
    )
    assert done.returncode == 3
    assert "no pulumi v3.259.0 on PATH and no engine tarball" in done.stderr
