"""The real engine runs the pack: `pulumi preview --policy-pack policies` (no account, no cluster).

(a) the ovh-gra stack previews clean; (b) the same stack with a policy config narrowing the
allowed regions (which the config model accepts) is blocked by provider-region-eu; (c) a tiny
program with a UK provider, a clear volume, a world-open rule, a namespace without Pod Security
and a Secret in clear is blocked by exactly the expected rules, while its compliant twins pass
(a secret Secret is not flagged: the pack sees secrets through the engine's wire envelope).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hdh import ROOT
from policies.pack import RULES

pytestmark = pytest.mark.engine
PULUMI = ROOT / ".tools" / "bin" / "pulumi"
COPIED = ("Pulumi.yaml", "__main__.py", "pyproject.toml", "uv.lock", "README.md")
PACKAGES = ("stacks", "components", "hdh", "policies", "hardening")
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


def _env(tmp: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PATH": f"{PULUMI.parent}:{os.environ['PATH']}",
        "PULUMI_BACKEND_URL": f"file://{tmp / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "engine-test-only",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "UV_OFFLINE": "1",
        "OS_AUTH_URL": "http://127.0.0.1:9/v3",  # never reached by a preview (delayed auth)
    }
    env.pop("VIRTUAL_ENV", None)
    (tmp / "state").mkdir(exist_ok=True)
    return env


def _pulumi(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PULUMI), *args, "--non-interactive"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _violations(out: str) -> set[tuple[str, str, str]]:
    return {(m[1], m[2], m[4].strip()) for m in VIOLATION.finditer(out)}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    yield from _platform(tmp_path_factory)
    # The engine's uv toolchain syncs the copy's project into the shared venv (an editable
    # install pointing at the temporary copy): point it back at the repository.
    subprocess.run(
        ["uv", "sync", "--frozen", "--offline", "--inexact", "--quiet"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        check=False,
        timeout=300,
    )


def _platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    if not PULUMI.exists():
        pytest.skip("engine not installed: scripts/install-engine")
    tmp = tmp_path_factory.mktemp("engine-pack")
    work = tmp / "project"
    work.mkdir()
    for name in COPIED:
        shutil.copy2(ROOT / name, work / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, work / pkg, ignore=ignore)
    (work / ".venv").symlink_to(ROOT / ".venv")
    stack_file = work / "stacks" / "Pulumi.ovh-gra.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    doc["config"].update(PINNED)
    stack_file.write_text(yaml.safe_dump(doc))
    env = _env(tmp)
    init = _pulumi(work, env, "stack", "init", "ovh-gra")
    assert init.returncode == 0, init.stderr
    yield work, env


def test_clean_stack_passes(platform: tuple[Path, dict[str, str]]) -> None:
    work, env = platform
    run = _pulumi(work, env, "preview", "--policy-pack", str(work / "policies"))
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "hdh-platform@" in out and "Loading policy packs" in out
    assert not _violations(out), out[-3000:]


def test_pack_blocks_what_the_model_accepts(platform: tuple[Path, dict[str, str]]) -> None:
    work, env = platform
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


def test_tiny_program_is_refused_rule_by_rule(platform: tuple[Path, dict[str, str]]) -> None:
    work, env = platform
    probe = work / "probe"  # inside the copy: the uv toolchain finds the project's uv.lock
    shutil.copytree(Path(__file__).parent / "engine_program", probe)
    (probe / ".venv").symlink_to(ROOT / ".venv")
    assert _pulumi(probe, env, "stack", "init", "probe").returncode == 0
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


def test_real_stack_export_of_an_applied_stack(
    platform: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """`pulumi up` for real (objects rendered to YAML, no cluster), then export and check."""
    from policies.run import evaluate

    work, env = platform
    probe = work / "k8s-probe"
    shutil.copytree(Path(__file__).parent / "engine_k8s_program", probe)
    (probe / ".venv").symlink_to(ROOT / ".venv")
    assert _pulumi(probe, env, "stack", "init", "k8s").returncode == 0
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
