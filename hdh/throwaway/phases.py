"""The checks of a deployed environment: policy pack, SSH through the bastion, hardening, testinfra.

Hardening and the testinfra checks run as the same commands a person runs (`hdh harden`,
`pytest tests/hardening/checks`), each in a child process of its own: a signal stops them
cleanly, and pyinfra's gevent never shares our process.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ground.errors import HdhError, InputError
from ground.paths import ROOT
from hdh.throwaway.workspace import run_child

log = logging.getLogger(__name__)
CHECKS = ROOT / "tests" / "hardening" / "checks"
CLOUD_INIT = (
    "if command -v cloud-init >/dev/null; then cloud-init status --wait >/dev/null 2>&1; "
    'rc=$?; [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]; fi'  # 2: finished with recoverable errors
)


class PhaseFailed(HdhError):
    """A phase ran and did not pass; `facts` say what was measured before it stopped."""

    def __init__(self, detail: str, facts: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.facts = facts or {}


def ssh_keys(workdir: Path, given: Path | None) -> tuple[Path, str]:
    """(private key, public key line): the given one, or a fresh ed25519 key for this environment.

    A fresh key needs no secret in CI and dies with the environment's directory.
    """
    if given is not None:
        res = run_child(["ssh-keygen", "-y", "-f", str(given)], timeout=30)
        if res.returncode != 0:
            raise InputError(f"--ssh-key {given}: not a readable private key without passphrase")
        return given, res.stdout.strip()
    key = workdir / "id_ed25519"
    if not key.exists():
        res = run_child(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"hdh-env-{workdir.name}",
                "-f",
                str(key),
            ],
            timeout=30,
        )
        if res.returncode != 0:
            raise HdhError(f"ssh-keygen failed: {res.stdout.strip()}")
    return key, key.with_suffix(".pub").read_text().strip()


def policy(export: dict[str, Any], reports: Path) -> dict[str, Any]:
    """The policy pack on `pulumi stack export`: reports in every format, facts = its summary."""
    from policies.reports import renderer
    from policies.run import evaluate, records

    kind, recs = records(export)
    result = evaluate(recs)
    result.source = kind
    reports.mkdir(parents=True, exist_ok=True)
    files = {
        "json": "policy.json",
        "sarif": "policy.sarif",
        "junit": "policy.xml",
        "markdown": "policy.md",
    }
    for fmt, file in files.items():
        (reports / file).write_text(renderer(fmt)(result))
    facts = {**result.summary(), "reports": sorted(files.values())}
    if result.mandatory:
        rules = sorted({f.rule for f in result.mandatory})
        raise PhaseFailed(
            f"{len(result.mandatory)} mandatory violation(s): {', '.join(rules)}", facts
        )
    return facts


def _ssh(cfg: Path, host: str, command: str, timeout: float) -> tuple[bool, str]:
    argv = [
        "ssh",
        "-F",
        str(cfg),
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "ConnectionAttempts=1",
        host,
        command,
    ]
    try:
        res = run_child(argv, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"no answer in {timeout:.0f} s"
    lines = [ln for ln in res.stdout.strip().splitlines() if ln.strip()]
    return res.returncode == 0, (lines[-1] if lines else f"exit {res.returncode}")


def wait_ssh(
    doc: dict[str, Any], cfg: Path, timeout: float, stop: Callable[[], bool]
) -> dict[str, Any]:
    """Every host answers SSH (through the bastion) and cloud-init has finished on it."""
    start = time.monotonic()
    pending = [h["name"] for h in doc["hosts"]]
    answered: dict[str, float] = {}
    last: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        while pending and not stop():
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                break
            wait = min(30.0, left)
            results = list(pool.map(lambda h, w=wait: _ssh(cfg, h, "true", w), pending))
            for host, (ok, why) in zip(list(pending), results, strict=True):
                if ok:
                    answered[host] = round(time.monotonic() - start, 1)
                    pending.remove(host)
                    log.info("ssh: %s answers after %.0f s", host, answered[host])
                else:
                    last[host] = why
            if pending and not stop():
                time.sleep(min(5.0, max(0.0, timeout - (time.monotonic() - start))))
    facts: dict[str, Any] = {"secondsToSsh": answered}
    if pending:
        reasons = "; ".join(f"{h}: {last.get(h, 'not tried')}" for h in pending[:4])
        raise PhaseFailed(
            f"no SSH answer after {time.monotonic() - start:.0f} s from {len(pending)} of "
            f"{len(doc['hosts'])} host(s) ({reasons})",
            facts,
        )
    left = max(60.0, timeout - (time.monotonic() - start))
    results = list(ThreadPoolExecutor(4).map(lambda h: _ssh(cfg, h, CLOUD_INIT, left), answered))
    unfinished = [f"{h}: {why}" for h, (ok, why) in zip(answered, results, strict=True) if not ok]
    if unfinished:
        raise PhaseFailed(f"cloud-init did not finish: {'; '.join(unfinished[:4])}", facts)
    return facts


def harden(
    outputs: Path, user: str, key: Path, known_hosts: Path, reports: Path, timeout: float
) -> dict[str, Any]:
    """`hdh harden` on the inventory: every host after its role."""
    out = reports / "harden.json"
    argv = [
        sys.executable,
        "-m",
        "hdh.cli",
        "--progress",
        "plain",
        "harden",
        "--inventory",
        str(outputs),
        "--ssh-user",
        user,
        "--ssh-key",
        str(key),
        "--known-hosts",
        str(known_hosts),
        "--json",
        str(out),
    ]
    res = run_child(argv, timeout=timeout, cwd=ROOT, log_file=reports / "harden.log")
    hosts = json.loads(out.read_text()) if out.is_file() else []
    facts = {
        "hosts": {
            h["host"]: {
                "role": h["role"],
                "changed": len(h["changed"]),
                "seconds": h["seconds"],
                "error": h["error"],
            }
            for h in hosts
        },
        "log": "harden.log",
    }
    if res.returncode != 0:
        errors = [h["error"] for h in hosts if h.get("error")] or res.stdout.strip().splitlines()[
            -3:
        ]
        raise PhaseFailed(f"hdh harden exited {res.returncode}: {'; '.join(errors[:3])}", facts)
    return facts


def _junit_counts(path: Path) -> dict[str, int]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return {}
    return {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}


def verify(doc: dict[str, Any], cfg: Path, reports: Path, timeout: float) -> dict[str, Any]:
    """The testinfra checks by R-number on every host, one pytest run per hardening role."""
    by_role: dict[str, list[str]] = {}
    for h in doc["hosts"]:
        by_role.setdefault(h["role"], []).append(h["name"])
    facts: dict[str, Any] = {}
    failed = []
    for role, names in sorted(by_role.items()):
        xml = reports / f"checks-{role}.xml"
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-o",
            "addopts=",
            "--rootdir",
            str(ROOT),
            str(CHECKS),
            "--hosts",
            ",".join(f"ssh://{n}" for n in names),
            "--ssh-config",
            str(cfg),
            "--sudo",
            "--hdh-role",
            role,
            "--hdh-report",
            str(reports / f"checks-{role}"),
            "--junitxml",
            str(xml),
        ]
        res = run_child(argv, timeout=timeout, cwd=ROOT, log_file=reports / f"checks-{role}.log")
        counts = _junit_counts(xml)
        facts[role] = {"hosts": names, **counts, "exit": res.returncode}
        if res.returncode != 0:
            failed.append(
                f"{role}: {counts.get('failures', '?')} failed, "
                f"{counts.get('errors', '?')} errors (exit {res.returncode})"
            )
    if failed:
        raise PhaseFailed("; ".join(failed), facts)
    return facts
