"""The real engine runs the pack: `pulumi preview --policy-pack policies` (no account, no cluster).

(a) the ovh-gra stack previews clean; (b) the same stack with a policy config narrowing the
allowed regions (which the config model accepts) is blocked by provider-region-eu; (c) a tiny
program with a UK provider, a clear volume, a world-open rule, a namespace without Pod Security
and a provider kubeconfig in clear is blocked by exactly those rules, while its compliant twins
pass; (d) a real `pulumi up` (Kubernetes objects rendered to YAML) leaves a stack whose
`pulumi stack export` `hdh policy check` reads. Projects are hdh.engine's throwaway copies.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ground.paths import ROOT
from hdh.engine import ThrowawayProject, use_shared_venv
from policies.pack import RULES
from policies.run import evaluate

pytestmark = pytest.mark.engine
HERE = Path(__file__).parent
PINNED = {  # lookups need an API even in preview: pin what they would return
    "hdh:imageId": "5f0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a01",
    "hdh:externalNetworkId": "6a0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a02",
}
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""
# "- [mandatory] [severity: critical]  provider-region-eu  (pulumi:providers:openstack: uk)"
VIOLATION = re.compile(r"- \[(mandatory|advisory)\].*?\s{2}([a-z0-9-]+)\s{2}\((\S+): ([^)]+)\)")


def _pulumi(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _violations(out: str) -> set[tuple[str, str, str]]:
    return {(m[1], m[2], m[4].strip()) for m in VIOLATION.finditer(out)}


def _program(project: ThrowawayProject, src: Path, name: str) -> Path:
    """A probe program inside the throwaway copy, on the shared venv like the project."""
    probe = project.dir / name
    shutil.copytree(src, probe)
    (probe / ".venv").symlink_to(ROOT / ".venv")
    use_shared_venv(probe / "Pulumi.yaml")
    init = _pulumi(probe, project.env, "stack", "init", name)
    assert init.returncode == 0, init.stderr
    return probe


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayProject:
    return ThrowawayProject(tmp_path_factory.mktemp("engine-pack"), "ovh-gra", PINNED)


def test_clean_stack_passes(project: ThrowawayProject) -> None:
    work, env = project.dir, project.env
    run = _pulumi(work, env, "preview", "--policy-pack", str(work / "policies"))
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "hdh-platform@" in out and "Loading policy packs" in out
    assert not _violations(out), out[-3000:]


def test_pack_blocks_what_the_model_accepts(project: ThrowawayProject) -> None:
    work, env = project.dir, project.env
    config = work / "policy-config.json"
    config.write_text(json.dumps({"provider-region-eu": {"allowedRegions": ["SBG5"]}}))
    run = _pulumi(
        work,
        env,
        "preview",
        "--policy-pack",
        str(work / "policies"),
        "--policy-pack-config",
        str(config),
    )
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert _violations(out) == {("mandatory", "provider-region-eu", "openstack-gra11")}, out[-3000:]
    assert "region GRA11 is not an allowed EU region" in out


def test_tiny_program_is_refused_rule_by_rule(project: ThrowawayProject) -> None:
    work, env = project.dir, project.env
    probe = _program(project, HERE / "engine_program", "probe")
    secret = _pulumi(probe, env, "config", "set", "--secret", "probe:kubeconfig", KUBECONFIG)
    assert secret.returncode == 0, secret.stderr
    run = _pulumi(probe, env, "preview", "--policy-pack", str(work / "policies"))
    out = run.stdout + run.stderr
    assert run.returncode != 0
    mandatory = {(rule, name) for level, rule, name in _violations(out) if level == "mandatory"}
    assert mandatory == {
        ("provider-region-eu", "uk"),
        ("volume-encrypted-type", "clear-volume"),
        ("secgroup-ingress-restricted", "world-ssh"),
        ("k8s-namespace-psa-restricted", "tools-ns"),
        ("secret-plaintext-state", "plain-cluster"),  # a provider input the engine keeps clear
    }, out[-4000:]


def test_real_stack_export_of_an_applied_stack(project: ThrowawayProject, tmp_path: Path) -> None:
    """`pulumi up` for real (objects rendered to YAML, no cluster), then export and check."""
    env = project.env
    probe = _program(project, HERE / "engine_k8s_program", "k8s")
    assert _pulumi(probe, env, "config", "set", "probe:renderDir", str(tmp_path)).returncode == 0
    up = _pulumi(probe, env, "up", "--yes", "--skip-preview")
    assert up.returncode == 0, (up.stdout + up.stderr)[-3000:]
    found = {}
    for flag in ((), ("--show-secrets",)):
        export = _pulumi(probe, env, "stack", "export", *flag)
        assert export.returncode == 0, export.stderr
        doc = json.loads(export.stdout)
        assert doc["version"] == 3
        result = evaluate(doc, only=[r for r in RULES if r.startswith(("k8s-", "secret-"))])
        found[flag] = {(f.rule, f.resource_name) for f in result.mandatory}
    assert (
        found[()]
        == found[("--show-secrets",)]
        == {
            ("k8s-namespace-psa-restricted", "open-ns"),
            ("k8s-no-privileged-container", "privileged-app"),
            ("k8s-lb-service-internal", "public-lb"),
            ("k8s-bubble-default-deny", "bubble-ns"),
        }
    )
    assert "ciphertext" in _pulumi(probe, env, "stack", "export").stdout  # the Secret's data
