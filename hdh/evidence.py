"""Evidence bundle for auditors: policy report, hardening coverage and results, control matrix,
closure records, and a SHA-256 manifest re-verifiable offline (`sha256sum -c`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ground.errors import InputError
from ground.paths import ROOT
from hdh import manifest, matrix

log = logging.getLogger(__name__)
FORMAT = "hdh-evidence/v1"
XCCDF = "{http://checklists.nist.gov/xccdf/1.2}"
MAX_INPUT = 256 << 20  # bytes: refuse absurd inputs before reading them
REPORT_FILES = {
    "text": "report.txt",
    "json": "report.json",
    "sarif": "report.sarif",
    "junit": "report.junit.xml",
    "markdown": "report.md",
}


@dataclass
class Inputs:
    stack: str
    state: Path | None = None  # a stack export / preview --json / hdh plan --json
    plan: bool = False  # the credential-free plan instead of a state file
    export: bool = False  # a fresh `pulumi stack export` through the engine
    host_reports: Sequence[Path] = ()
    scap_results: Sequence[Path] = ()
    closures: Sequence[Path] = ()
    policy_config: dict[str, Any] | None = None
    waivers: Path | None = None


@dataclass
class Bundle:
    path: Path
    digest: str
    files: int
    summary: dict[str, Any] = field(default_factory=dict)


def _check_out(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise InputError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise InputError(f"{out}: exists and is not empty (a bundle is written once)")


def _read_limited(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_INPUT:
            raise InputError(f"{path}: larger than {MAX_INPUT >> 20} MiB")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def git_revision() -> dict[str, Any]:
    """The commit the bundle was produced from, and whether the tree had local changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    return {
        "commit": commit or None,
        "dirty": bool(git("status", "--porcelain")) if commit else None,
    }


def policy_result(inputs: Inputs) -> tuple[Any, dict[str, Any]]:
    """Evaluate the pack over the chosen source; (Result, what was evaluated)."""
    from policies.run import evaluate, records

    if inputs.plan:
        from hdh.plan import plan_stack

        log.info("evidence: credential-free plan of stack %s", inputs.stack)
        doc = plan_stack(inputs.stack).to_json()
        raw = json.dumps(doc, sort_keys=True).encode()
        origin: dict[str, Any] = {"kind": "plan", "file": None}
    else:
        if inputs.export:
            from hdh.drift import stack_export

            log.info("evidence: pulumi stack export --stack %s", inputs.stack)
            raw = stack_export(inputs.stack).encode()
            origin = {"kind": "stack-export", "file": None}
        else:
            assert inputs.state is not None
            raw = _read_limited(inputs.state)
            origin = {"kind": "", "file": inputs.state.name}
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise InputError(f"{inputs.state or 'stack export'}: not JSON: {exc}") from None
    try:
        kind, recs = records(doc)
    except InputError as exc:
        raise InputError(f"{inputs.state or 'state'}: {exc}") from None
    result = evaluate(recs, config=inputs.policy_config)
    result.source = kind
    origin.update(kind=kind, sha256=hashlib.sha256(raw).hexdigest(), resources=len(recs))
    return result, origin


def scap_summary(path: Path) -> dict[str, Any]:
    """Score and counts per result of an OpenSCAP ARF or XCCDF 1.2 results file."""
    try:
        root = ET.fromstring(_read_limited(path))
    except ET.ParseError as exc:
        raise InputError(f"{path}: not XML: {exc}") from None
    tests = list(root.iter(f"{XCCDF}TestResult"))
    if not tests:
        raise InputError(f"{path}: TestResult: no XCCDF 1.2 TestResult (not OpenSCAP results)")
    test = tests[-1]
    counts: dict[str, int] = {}
    failed = []
    for rr in test.iter(f"{XCCDF}rule-result"):
        verdict = (rr.findtext(f"{XCCDF}result") or "").strip()
        counts[verdict] = counts.get(verdict, 0) + 1
        if verdict == "fail":
            failed.append(rr.get("idref", ""))
    score = test.find(f"{XCCDF}score")
    profile = test.find(f"{XCCDF}profile")
    target = test.findtext(f"{XCCDF}target") or ""
    try:
        value = float(score.text or "") if score is not None else None
    except ValueError:
        raise InputError(f"{path}: TestResult.score: not a number") from None
    return {
        "file": path.name,
        "target": target,
        "profile": profile.get("idref", "") if profile is not None else "",
        "score": value,
        "scoreMax": float(score.get("maximum", 100)) if score is not None else None,
        "counts": dict(sorted(counts.items())),
        "failed": sorted(failed),
    }


def build(inputs: Inputs, out: Path) -> Bundle:
    """Gather every piece into `out` (new or empty), then write the manifest last."""
    from hardening import coverage
    from policies.controls import REQUIREMENTS, SOURCES
    from policies.reports import renderer

    _check_out(out)
    # Read and check every input before writing anything: a bad input leaves no half bundle.
    host_docs = [(p, matrix.read_host_report(p)) for p in inputs.host_reports]
    scaps = [(p, scap_summary(p)) for p in inputs.scap_results]
    closures = [(p, _read_closure(p)) for p in inputs.closures]
    waivers = None
    if inputs.waivers is not None:
        from policies.pack import RULES
        from policies.waivers import load as load_waivers

        waivers = load_waivers(inputs.waivers, RULES)
    result, origin = policy_result(inputs)
    if waivers is not None:
        from policies.waivers import suppress

        suppress(result, waivers)
    log.info("evidence: %d findings on %d resources", len(result.findings), result.resources)

    out.mkdir(parents=True, exist_ok=True)
    policy = out / "policy"
    policy.mkdir()
    for fmt, name in REPORT_FILES.items():
        (policy / name).write_text(renderer(fmt)(result))
    if inputs.waivers is not None:
        shutil.copyfile(inputs.waivers, policy / f"waivers{inputs.waivers.suffix or '.yaml'}")
    hard = out / "hardening"
    hard.mkdir()
    (hard / "COVERAGE.md").write_text(coverage.render())
    rows = coverage.rows()
    cov = [{**r.__dict__, "status": r.status} for r in rows]
    (hard / "coverage.json").write_text(json.dumps(cov, indent=1) + "\n")
    reports = []
    for i, (path, doc) in enumerate(host_docs, 1):
        name = f"hosts/{i:02d}-{doc.get('role', 'host')}"
        (hard / name).mkdir(parents=True)
        src = path / "report.json" if path.is_dir() else path
        shutil.copyfile(src, hard / name / "report.json")
        reports.append((name, doc))
    scap_docs = []
    for i, (path, summary) in enumerate(scaps, 1):
        (hard / "scap").mkdir(exist_ok=True)
        dest = hard / "scap" / f"{i:02d}-{path.name}"
        shutil.copyfile(path, dest)
        scap_docs.append({**summary, "file": f"hardening/scap/{dest.name}"})
    if scap_docs:
        (hard / "scap" / "summary.json").write_text(json.dumps(scap_docs, indent=1) + "\n")
    for i, (path, _doc) in enumerate(closures, 1):
        (out / "closure").mkdir(exist_ok=True)
        shutil.copyfile(path, out / "closure" / f"{i:02d}-{path.name}")

    ctl = out / "controls"
    ctl.mkdir()
    table = matrix.rule_rows(result) + matrix.hardening_rows(reports)
    (ctl / "matrix.json").write_text(json.dumps(table, indent=1) + "\n")
    (ctl / "matrix.md").write_text(matrix.render_markdown(table, f"stack {inputs.stack}"))
    refs = {
        "sources": {k: s._asdict() for k, s in SOURCES.items()},
        "requirements": {k: {**r._asdict(), "label": r.label} for k, r in REQUIREMENTS.items()},
    }
    (ctl / "requirements.json").write_text(json.dumps(refs, indent=1) + "\n")

    s = result.summary()
    summary = {
        "policy": {
            k: s[k] for k in ("resources", "rules", "mandatory", "advisory", "waived", "passed")
        }
        | {"undetermined": len(result.undetermined)},
        "hardening": {
            "coverage": _counts(r.status for r in rows),
            "hostReports": len(reports),
            "scapResults": [
                {"target": d["target"], "score": d["score"], "profile": d["profile"]}
                for d in scap_docs
            ],
        },
        "closures": len(closures),
    }
    meta = {
        "format": FORMAT,
        "stack": inputs.stack,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "generator": {"name": "hdh evidence", **git_revision()},
        "state": origin,
        "summary": summary,
    }
    (out / "bundle.json").write_text(json.dumps(meta, indent=1) + "\n")
    (out / "README.md").write_text(_readme(meta))
    digest = manifest.write(out)
    count = len(manifest.files(out)[0])
    return Bundle(out, digest, count, summary)


def _counts(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def _read_closure(path: Path) -> dict[str, Any]:
    from hdh.closure import read_record

    return read_record(path)


def _readme(meta: dict[str, Any]) -> str:
    p = meta["summary"]["policy"]
    return f"""# Evidence bundle — stack {meta["stack"]}

Produced {meta["created"]} by `hdh evidence` from commit {meta["generator"]["commit"]}
(local changes: {meta["generator"]["dirty"]}), over a {meta["state"]["kind"]} of
{meta["state"]["resources"]} resources (SHA-256 {meta["state"]["sha256"]}).

Policy pack: {"PASSED" if p["passed"] else "FAILED"}, {p["mandatory"]} mandatory and
{p["advisory"]} advisory violations, {p["undetermined"]} undetermined, {p["rules"]} rules.

| path | what |
|---|---|
| `policy/` | the policy report in text, JSON, SARIF 2.1.0, JUnit XML and Markdown (+ waivers) |
| `controls/matrix.md`, `matrix.json` | requirement → control → rule/operation → test → result |
| `controls/requirements.json` | every requirement cited, its source and the date it was checked |
| `hardening/COVERAGE.md`, `.json` | ANSSI BP-028: each R-number applied, checked, or why not |
| `hardening/hosts/` | testinfra control reports of the stack's hosts (when given) |
| `hardening/scap/` | OpenSCAP results and their scores (when given) |
| `closure/` | closure records of destroyed bubbles (when given) |
| `bundle.json` | what was evaluated, from which commit, when |

## Verify it offline

    sha256sum -c MANIFEST.sha256          # every listed file is intact
    hdh evidence --verify DIR [--expect-digest SHA256]   # also: nothing added, no symlink

Compare the manifest's own SHA-256 (`sha256sum MANIFEST.sha256`) with the digest recorded when
the bundle was handed over: whoever can edit the files can edit the manifest too.
"""
