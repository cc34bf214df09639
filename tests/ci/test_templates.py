"""The CI templates (ci/): valid for each forge's own schema and linter, no secret where it could
leak, and their merge-request steps run as the forge would run them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ground.paths import ROOT

GITLAB = ROOT / "ci" / "gitlab-ci.yml"
GITHUB = sorted((ROOT / "ci" / "github" / "workflows").glob("*.yml"))
BIN = ROOT / ".venv" / "bin"
SECRETS = {
    "PULUMI_CONFIG_PASSPHRASE",
    "HDH_BACKEND_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "OS_AUTH_URL",
    "OS_APPLICATION_CREDENTIAL_ID",
    "OS_APPLICATION_CREDENTIAL_SECRET",
    "OS_PASSWORD",
}


def load(path: Path) -> dict[Any, Any]:
    doc: dict[Any, Any] = yaml.safe_load(path.read_text())
    return doc


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def actionlint() -> str:
    """actionlint built from the Go module proxy (scripts/install-actionlint), shellcheck beside."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "install-actionlint")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def run_actionlint(binary: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}  # its shellcheck
    return subprocess.run(
        [binary, "-shellcheck", str(BIN / "shellcheck"), *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_gitlab_template_matches_gitlabs_schema() -> None:
    res = check_jsonschema("vendor.gitlab-ci", GITLAB)
    assert res.returncode == 0, res.stdout + res.stderr


def test_github_workflows_match_the_schema_and_actionlint(actionlint: str) -> None:
    assert {p.name for p in GITHUB} == {"hdh-policy.yml", "hdh-cycle.yml", "hdh-reap.yml"}
    res = check_jsonschema("vendor.github-workflows", *GITHUB)
    assert res.returncode == 0, res.stdout + res.stderr
    lint = run_actionlint(actionlint, *GITHUB)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_checks_can_fail(tmp_path: Path, actionlint: str) -> None:
    bad = load(GITLAB)
    bad["hdh-policy"]["artifacts"]["when"] = "sometimes"
    (tmp_path / "gitlab.yml").write_text(yaml.safe_dump(bad))
    assert check_jsonschema("vendor.gitlab-ci", tmp_path / "gitlab.yml").returncode != 0
    wf = load(GITHUB[0])
    job = next(iter(wf["jobs"].values()))
    job["steps"].append({"run": 'for f in $(ls reports); do echo "$f"; done'})  # SC2045
    job["runs-on"] = "ubuntu-24.04"
    path = tmp_path / "wf.yml"
    path.write_text(yaml.safe_dump(wf))
    lint = run_actionlint(actionlint, path)
    assert lint.returncode != 0 and "shellcheck" in lint.stdout, lint.stdout


def github_steps() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in GITHUB:
        for job_name, job in load(path)["jobs"].items():
            for step in job["steps"]:
                yield (
                    f"{path.name}:{job_name}",
                    step.get("run", ""),
                    {**job.get("env", {}), **step.get("env", {})},
                )


def test_no_expression_inside_a_run_step_and_secrets_only_in_env() -> None:
    """`${{ }}` in a script is pasted into the shell before it runs (script injection), and a
    secret there could end up in a file or a log: secrets reach scripts as environment only."""
    for where, script, _env in github_steps():
        assert "${{" not in script, f"{where}: expression inside a run step"
    for path in GITHUB:
        text = path.read_text()
        for m in re.finditer(r"\$\{\{\s*secrets\.(\w+)", text):
            line = text[: m.start()].rsplit("\n", 1)[-1]
            assert re.match(r"^\s+[A-Z_]+: $", line), (
                f"{path.name}: secret {m.group(1)} outside env"
            )
    doc = load(GITLAB)
    defined = set(doc.get("variables", {}))
    for job in doc.values():
        if isinstance(job, dict):
            defined |= set(job.get("variables", {}) or {})
    assert not defined & SECRETS, "secrets come from the project's masked variables, not the file"
    for script in [*GITLAB.read_text().splitlines(), *(s for _, s, _ in github_steps())]:
        assert not re.search(r"(echo|printf).*\$\{?(" + "|".join(SECRETS) + r")\b.*>", script)


def gitlab_env(job: str, overrides: dict[str, str]) -> dict[str, str]:
    """Variables as GitLab hands them to a job: predefined, file, job, then project variables."""
    doc = load(GITLAB)
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env.update(
        CI="true",
        GITLAB_CI="true",
        CI_PROJECT_DIR=str(ROOT),
        CI_PIPELINE_ID="4242",
        CI_PIPELINE_SOURCE="merge_request_event",
        CI_DEFAULT_BRANCH="main",
    )
    for scope in (doc.get("variables", {}), doc[job].get("variables", {})):
        for key, value in scope.items():
            env[key] = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), str(value))
    env.update(overrides)
    return env


def run_script(lines: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = "set -eo pipefail\n" + "\n".join(lines)
    return subprocess.run(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_gitlab_merge_request_job_runs_and_leaves_junit_gitlab_reads(tmp_path: Path) -> None:
    doc = load(GITLAB)
    job = doc["hdh-policy"]
    assert job["artifacts"]["when"] == "always", "reports are kept when the job fails"
    reports = tmp_path / "reports"
    home = Path(os.environ.get("HDH_CACHE") or Path.home() / ".cache" / "hdh-platform")
    env = gitlab_env(
        "hdh-policy",
        {
            "HDH_REPORTS": str(reports),
            "HDH_CACHE": str(home),
            "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", ""),
        },
    )
    if not env["UV_CACHE_DIR"]:
        env.pop("UV_CACHE_DIR")
    res = run_script(job["script"], env)
    assert res.returncode == 0, res.stderr[-3000:]
    junit = job["artifacts"]["reports"]["junit"]
    assert junit.startswith("reports/") and junit.endswith(".xml")  # GitLab parses .xml only
    files = sorted(reports.glob(junit.removeprefix("reports/")))
    assert len(files) >= 4, files
    for f in files:
        suite = ET.parse(f).getroot().find("testsuite")
        assert suite is not None and int(suite.get("tests", "0")) > 10


def test_github_pull_request_job_runs_and_leaves_sarif_per_stack(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    summary = tmp_path / "summary.md"
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env.update(CI="true", GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary))
    steps = [(w, s, e) for w, s, e in github_steps() if w.startswith("hdh-policy.yml") and s]
    assert len(steps) == 2
    for where, script, step_env in steps:
        res = run_script([script], {**env, **step_env, "HDH_REPORTS": str(reports)})
        assert res.returncode == 0, f"{where}: {res.stderr[-3000:]}"
    sarifs = sorted(reports.glob("*/policy.sarif"))
    categories = set()
    for f in sarifs:
        for run in json.loads(f.read_text())["runs"]:
            categories.add(run["automationDetails"]["id"])
    assert len(categories) == len(sarifs) >= 4, "one code-scanning category per stack"
    assert "| " in summary.read_text(), "the policy matrix lands in the job summary"


def test_a_stack_that_does_not_plan_fails_the_job_and_the_others_are_still_reported(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "HDH_REPORTS": str(tmp_path), "HDH_STACKS": "nope local"}
    res = subprocess.run(
        [str(ROOT / "scripts" / "ci-policy")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert res.returncode == 2
    assert "stacks/Pulumi.nope.yaml: no such stack file" in res.stderr
    assert (tmp_path / "local" / "policy.xml").is_file()
