"""Drift of a deployed stack: cloud vs state (refresh), program vs cloud (preview), the pack on a
fresh export, the hardening checks on its hosts; one dated JSON record appended to a history."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ground.errors import HdhError, InputError
from ground.paths import ROOT

log = logging.getLogger(__name__)
Runner = Callable[..., subprocess.CompletedProcess[str]]
HISTORY_DIR = ROOT / ".state" / "drift"  # git-ignored, beside the default file:// backend
RECORD_FORMAT = "hdh-drift/v1"
NO_CHANGE = ("same", "read")
UNNAMED = "(not named by refresh --preview-only: see the preview phase)"


class DriftError(HdhError):
    """The engine could not refresh, preview or export the stack (not drift: an error)."""


def engine_runner(stack: str) -> Runner:
    """`pulumi ARGS --stack S` in the clone, with the project's sovereign defaults."""
    from hdh.engine import environment

    env = environment()

    def run(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pulumi", *args, "--stack", stack, "--non-interactive"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


def stack_export(stack: str, run: Runner | None = None) -> str:
    """`pulumi stack export` (ciphertext secrets only: never --show-secrets)."""
    done = (run or engine_runner(stack))("stack", "export")
    if done.returncode != 0:
        raise DriftError(f"pulumi stack export: exit {done.returncode}: {_tail(done.stderr)}")
    return done.stdout


def _tail(text: str, n: int = 3) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " / ".join(lines[-n:]) or "(no output)"


def _json(done: subprocess.CompletedProcess[str], what: str) -> dict[str, Any]:
    try:
        doc = json.loads(done.stdout)
    except ValueError:
        raise DriftError(
            f"{what}: exit {done.returncode}, no JSON: {_tail(done.stderr or done.stdout)}"
        ) from None
    if not isinstance(doc, dict):
        raise DriftError(f"{what}: unexpected JSON (not an object)")
    return doc


def changes(doc: dict[str, Any]) -> list[dict[str, str]]:
    """The steps of a `--json` refresh or preview that change something, as {op, urn, diff}.

    A refresh reports every resource as a `refresh` step, changed or not, and in preview-only
    mode its new state is not always the refreshed one: its `changeSummary` is what counts.
    Changes it counts but whose step shows no difference are listed without a URN.
    """
    out = []
    for step in doc.get("steps") or []:
        op = step.get("op", "")
        if op in NO_CHANGE or "::pulumi:pulumi:Stack::" in step.get("urn", ""):
            continue
        keys = step.get("diffKeys") or sorted((step.get("detailedDiff") or {}).keys())
        if op == "refresh":
            old = (step.get("oldState") or {}).get("outputs") or {}
            new = (step.get("newState") or {}).get("outputs") or {}
            keys = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
            if not keys:
                continue
            op = "update"
        out.append({"op": op, "urn": step.get("urn", ""), "diff": ", ".join(keys)})
    summary = doc.get("changeSummary") or {}
    counted = sum(n for op, n in summary.items() if op not in NO_CHANGE and isinstance(n, int))
    for _ in range(max(0, counted - len(out))):
        out.append({"op": "update", "urn": UNNAMED, "diff": ""})
    return out


@dataclass
class Phase:
    name: str
    status: str  # clean, drift, skipped, unreachable
    detail: dict[str, Any] = field(default_factory=dict)


def phase_refresh(run: Runner) -> Phase:
    """What the cloud changed behind the state's back (refresh, preview only: state untouched)."""
    doc = _json(run("refresh", "--preview-only", "--json"), "pulumi refresh --preview-only")
    found = changes(doc)
    return Phase("refresh", "drift" if found else "clean", {"changes": found})


def phase_preview(run: Runner) -> Phase:
    """What `pulumi up` would change now, against the refreshed cloud."""
    done = run("preview", "--refresh", "--json")
    doc = _json(done, "pulumi preview --refresh")
    if done.returncode != 0:  # no pack runs here: a failed preview is an error, its steps partial
        errors = [
            d.get("message", "").strip()
            for d in doc.get("diagnostics") or []
            if d.get("severity") == "error"
        ]
        raise DriftError(
            f"pulumi preview --refresh failed: {_tail(' / '.join(errors) or done.stderr)}"
        )
    found = changes(doc)
    return Phase("preview", "drift" if found else "clean", {"changes": found})


def phase_policy(run: Runner, config: dict[str, Any] | None) -> Phase:
    from policies.run import evaluate, records

    try:
        _kind, recs = records(json.loads(stack_export("", run)))
    except (ValueError, InputError) as exc:
        raise DriftError(f"pulumi stack export: unreadable: {exc}") from None
    result = evaluate(recs, config=config)
    mandatory = [
        {"rule": f.rule, "urn": f.urn, "message": f.message} for f in result.findings if f.mandatory
    ]
    return Phase(
        "policy",
        "drift" if mandatory else "clean",
        {
            "resources": len(recs),
            "mandatory": mandatory,
            "advisory": len(result.findings) - len(mandatory),
            "undetermined": len(result.undetermined),
        },
    )


def checks_ssh_config(
    doc: dict[str, Any],
    user: str | None,
    key: str,
    known_hosts: str | None,
    check: str,
    path: Path,
) -> str:
    """An OpenSSH client config naming every host of the inventory, for testinfra.

    testinfra's paramiko backend allocates the terminal BP-028's `requiretty` wants, but knows
    ProxyCommand only: hosts behind the bastion reach it through `ssh -W`, from this same file.
    """
    from hardening.inventory import ssh_config

    return ssh_config(doc, user, key, known_hosts, check, proxy_command_from=str(path))


def phase_hardening(
    run: Runner,
    ssh_key: str | None,
    user: str | None,
    report_dir: Path,
    connect_timeout: int = 10,
    known_hosts: str | None = None,
    accept_new_host_keys: bool = False,
) -> Phase:
    """The testinfra checks on every reachable host of the stack's `inventory` output.

    Host keys are checked strictly against `known_hosts` (default: the user's); accepting new
    ones is an explicit choice (first contact), as an attacker in the path would be accepted too.
    """
    from hardening.inventory import load_outputs

    if not ssh_key:
        return Phase("hardening", "skipped", {"reason": "no --ssh-key given"})
    done = run("stack", "output", "--json")
    outputs = _json(done, "pulumi stack output")
    if not isinstance(outputs.get("inventory"), dict):
        return Phase("hardening", "skipped", {"reason": "the stack has no inventory output"})
    work = Path(tempfile.mkdtemp(prefix="hdh-drift-"))
    (work / "outputs.json").write_text(json.dumps(outputs))
    doc = load_outputs(work / "outputs.json")
    cfg = work / "ssh_config"
    check = "accept-new" if accept_new_host_keys else "yes"
    cfg.write_text(checks_ssh_config(doc, user, ssh_key, known_hosts, check, cfg))
    hosts: dict[str, list[str]] = {}
    unreachable = []
    for h in doc["hosts"]:
        probe = subprocess.run(
            [
                "ssh",
                "-F",
                str(cfg),
                "-o",
                "BatchMode=yes",
                "-o",
                f"ConnectTimeout={connect_timeout}",
                h["name"],
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=connect_timeout * 3 + 5,
            check=False,
        )
        if probe.returncode == 0:
            hosts.setdefault(h["role"], []).append(h["name"])
        else:
            unreachable.append({"host": h["name"], "why": _tail(probe.stderr, 1)})
    results: dict[str, Any] = {}
    failed = 0
    for role, names in sorted(hosts.items()):
        out = report_dir / role
        argv = [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests" / "hardening" / "checks"),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--hosts={','.join(f'paramiko://{n}' for n in names)}",
            f"--ssh-config={cfg}",
            "--sudo",
            f"--hdh-role={role}",
            f"--hdh-report={out}",
        ]
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
        report = (
            json.loads((out / "report.json").read_text()) if (out / "report.json").is_file() else {}
        )
        summary = report.get("summary", {})
        failed += int(summary.get("failed", 0)) + (1 if proc.returncode not in (0, 1) else 0)
        results[role] = {"hosts": names, "summary": summary, "pytest": proc.returncode}
        if not report:  # the checks did not run: say why, it counts as a failure above
            results[role]["error"] = _tail(proc.stderr or proc.stdout)
    status = "drift" if failed else ("unreachable" if not hosts else "clean")
    return Phase("hardening", status, {"roles": results, "unreachable": unreachable})


def append(history: Path, record: dict[str, Any]) -> None:
    """One JSON line appended under an exclusive lock (concurrent runs never interleave)."""
    history.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


def detect(
    stack: str,
    run: Runner,
    *,
    history: Path,
    policy_config: dict[str, Any] | None = None,
    ssh_key: str | None = None,
    user: str | None = None,  # None: the inventory's deploy user
    report_dir: Path | None = None,
    known_hosts: str | None = None,
    accept_new_host_keys: bool = False,
    phases: Sequence[str] = ("refresh", "preview", "policy", "hardening"),
) -> dict[str, Any]:
    """Run the phases, append the record to `history`, return it (`drift` true if any drifted)."""
    from hdh.evidence import git_revision

    started = dt.datetime.now(dt.UTC)
    done: list[Phase] = []
    for name in phases:
        log.info("drift: %s", name)
        if name == "refresh":
            done.append(phase_refresh(run))
        elif name == "preview":
            done.append(phase_preview(run))
        elif name == "policy":
            done.append(phase_policy(run, policy_config))
        elif name == "hardening":
            rdir = report_dir or Path(tempfile.mkdtemp(prefix="hdh-drift-reports-"))
            done.append(
                phase_hardening(
                    run,
                    ssh_key,
                    user,
                    rdir,
                    known_hosts=known_hosts,
                    accept_new_host_keys=accept_new_host_keys,
                )
            )
        log.info("drift: %s: %s", name, done[-1].status)
    record = {
        "format": RECORD_FORMAT,
        "stack": stack,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1),
        "commit": git_revision()["commit"],
        "drift": any(p.status == "drift" for p in done),
        "phases": {p.name: {"status": p.status, **p.detail} for p in done},
    }
    append(history, record)
    return record
