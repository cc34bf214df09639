"""The external judge: OpenSCAP with SSG's Debian 12 data stream (ANSSI BP-028 profiles)."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from hardening import tailoring
from testbed import hosts
from testbed.paths import cache_root, locked, named
from testbed.proc import TestbedError, ensure_host_tools, run
from testbed.state import TestHost

log = logging.getLogger(__name__)

PROFILE_PREFIX = "xccdf_org.ssgproject.content_profile_"
INTERMEDIARY = PROFILE_PREFIX + "anssi_bp28_intermediary"
ENHANCED = PROFILE_PREFIX + "anssi_bp28_enhanced"
# The same profiles tailored (hardening/data/scap_tailoring.yaml): the organisation's values, no
# rule whose check is known to be wrong. The judge of the comparison; the stock ones for the record.
INTERMEDIARY_HDH = tailoring.tailored_id(INTERMEDIARY)
ENHANCED_HDH = tailoring.tailored_id(ENHANCED)
# Only trixie's ssg-debian ships Debian 12 content (bookworm's 0.1.65 stops at Debian 11).
SSG_SOURCE = "deb http://deb.debian.org/debian trixie main"
SSG_PACKAGE = "ssg-debian"
DATASTREAM = "usr/share/xml/scap/ssg/content/ssg-debian12-ds.xml"
RULE_PREFIX = "xccdf_org.ssgproject.content_rule_"
ANSSI_HREF = re.compile(r"(cyber|ssi)\.gouv\.fr")
XCCDF = "{http://checklists.nist.gov/xccdf/1.2}"
RESULTS = ("pass", "fail", "notapplicable", "notchecked", "error", "unknown", "informational")


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict on a host, with the ANSSI BP-028 R-numbers SSG maps it to."""

    rule: str  # short id, without RULE_PREFIX
    result: str  # pass, fail, notapplicable, notchecked, error, unknown, informational, fixed
    severity: str
    title: str
    anssi: tuple[str, ...]


@dataclass
class ScanResult:
    """A profile evaluated on one host: XCCDF default score, counts per result, every rule."""

    host: str
    kind: str
    profile: str
    score: float
    score_max: float
    rules: list[RuleResult] = field(default_factory=list)
    seconds: float = 0.0
    arf: Path | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Results per kind, every kind present (zero if none); `notselected` rules excluded."""
        got = Counter(r.result for r in self.rules)
        return {k: got.get(k, 0) for k in (*RESULTS, *sorted(set(got) - set(RESULTS)))}

    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if r.result in ("fail", "error")]

    def summary(self) -> str:
        c = self.counts
        return (
            f"{self.host} ({self.kind}) {short_profile(self.profile)}: score "
            f"{self.score:.2f}/{self.score_max:.0f}, {c['pass']} pass, {c['fail']} fail, "
            f"{c['notapplicable']} notapplicable, {c['notchecked']} notchecked, "
            f"{c['error']} error ({self.seconds:.0f} s)"
        )


def short_profile(profile: str) -> str:
    """`anssi_bp28_intermediary`, or `anssi_bp28_intermediary_hdh` for the tailored profile."""
    return profile.removeprefix(PROFILE_PREFIX).removeprefix(tailoring.PROFILE)


def full_profile(profile: str) -> str:
    """Accept `anssi_bp28_intermediary` (`..._hdh`: tailored) as well as the full profile id."""
    if profile.startswith("xccdf_"):
        return profile
    return (
        tailoring.tailored_id(profile)
        if tailoring.is_tailored(profile)
        else PROFILE_PREFIX + profile
    )


def ensure_tailoring() -> Path:
    """Our XCCDF tailoring file, rendered from the hardening data and checked against SSG's data
    stream; cached by content (its version), so an unchanged tailoring keeps its fixes cached."""
    ds = ensure_datastream()
    text = tailoring.render(datastream=ds)
    dest = ssg_dir() / "tailoring" / f"hdh-{tailoring.version(text)}.xml"
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(text)
        tmp.replace(dest)
    return dest


def ssg_dir() -> Path:
    return cache_root() / "ssg"


def ensure_datastream() -> Path:
    """SSG's Debian 12 data stream from trixie's ssg-debian, fetched once into the cache.

    The system's apt sources are left alone: apt gets its own sources list, lists and cache dirs.
    """
    base = ssg_dir()
    ds = base / "content" / DATASTREAM
    if ds.exists():
        return ds
    with locked(base / "lock"):
        if ds.exists():
            return ds
        t0 = time.monotonic()
        apt = base / "apt"
        for sub in ("lists/partial", "cache/archives/partial", "parts"):
            (apt / sub).mkdir(parents=True, exist_ok=True)
        (apt / "sources.list").write_text(SSG_SOURCE + "\n")
        opts = [
            "-q",
            "-o", f"Dir::Etc::sourcelist={apt / 'sources.list'}",
            "-o", f"Dir::Etc::sourceparts={apt / 'parts'}",  # empty: no system sources
            "-o", f"Dir::State::Lists={apt / 'lists'}",
            "-o", f"Dir::Cache={apt / 'cache'}",
            "-o", "Acquire::Languages=none",
            "-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
            "-o", "APT::Sandbox::User=root",
        ]  # fmt: skip
        run(["apt-get", *opts, "update"], host="localhost", step="ssg apt-get update", timeout=600)
        dl = Path(tempfile.mkdtemp(prefix="dl-", dir=base))
        try:
            proc = subprocess.run(
                ["apt-get", *opts, "download", SSG_PACKAGE],
                cwd=dl,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            debs = sorted(dl.glob(f"{SSG_PACKAGE}_*.deb"))
            if proc.returncode != 0 or not debs:
                raise TestbedError("localhost", "ssg download", proc.stderr.strip()[-500:])
            staging = base / "content.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            run(["dpkg", "-x", debs[0], staging], host="localhost", step="ssg unpack")
            (staging / "PACKAGE").write_text(debs[0].name + "\n")
            shutil.rmtree(base / "content", ignore_errors=True)
            staging.rename(base / "content")
        finally:
            shutil.rmtree(dl, ignore_errors=True)
        log.info("ssg: %s in %.0f s", ssg_version(), time.monotonic() - t0)
    return ds


def ssg_version() -> str:
    """The cached ssg-debian package file name (its version), or '' if not fetched yet."""
    path = ssg_dir() / "content" / "PACKAGE"
    return path.read_text().strip() if path.exists() else ""


def scan(
    host: TestHost, profile: str = INTERMEDIARY, out_dir: Path | None = None, timeout: float = 3600
) -> ScanResult:
    """Evaluate `profile` on `host`: oscap runs on the target under sudo, the ARF comes back.
    A tailored profile (INTERMEDIARY_HDH, ...) brings our tailoring file along.

    Done with plain ssh rather than `oscap-ssh --sudo`: BP-028 hardening (SSG's own remediation
    included) sets sudo `requiretty` and `noexec`, under which oscap-ssh's `sudo sh -c '...'`
    fails. Here sudo runs oscap itself (it needs no exec), on a forced tty.
    """
    profile = full_profile(profile)
    ensure_host_tools()
    out = out_dir or (cache_root() / "scans")
    out.mkdir(parents=True, exist_ok=True)
    arf = out / f"{host.name}-{short_profile(profile)}-{time.strftime('%Y%m%dT%H%M%S')}.arf.xml"
    log.info("%s: oscap scan %s", host.name, short_profile(profile))
    t0 = time.monotonic()
    remote = _ssh(host, "mktemp -d /var/tmp/hdh-oscap.XXXXXX", step="scan: temp dir").strip()
    try:
        _stage(host, remote, [profile])
        evaluate = (
            f"sudo -n {_oscap(remote, profile, 'arf')}; rc=$?;"
            f" sudo -n chown {host.user} {remote}/arf.xml; exit $rc"
        )
        proc = _on_tty(host, evaluate, "oscap scan", timeout)
        _check_oscap(host, remote, "arf", proc.returncode)
        with open(arf, "wb") as dest:
            _ssh(host, f"cat {remote}/arf.xml", step="scan: fetch results", stdout=dest)
    finally:
        _ssh(host, f"rm -rf {remote}", step="scan: clean up", check=False)
    result = parse_results(arf, host=host.name, kind=host.kind)
    result.seconds = time.monotonic() - t0
    log.info("%s", result.summary())
    return result


def _on_tty(
    host: TestHost, command: str, step: str, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    """Run `command` over SSH on a forced terminal (sudo's requiretty); output captured."""
    try:
        return subprocess.run(
            host.ssh_argv(command, tty=True),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(host.name, step, f"timed out after {timeout:.0f} s") from exc


def _stage(host: TestHost, remote: str, profiles: list[str]) -> None:
    """Copy the data stream (and our tailoring, if a profile is tailored) to `remote` on host;
    nothing without a profile to evaluate."""
    if not profiles:
        return
    with open(ensure_datastream(), "rb") as src:
        _ssh(host, f"cat > {remote}/ds.xml", step="scan: copy data stream", stdin=src)
    if any(tailoring.is_tailored(p) for p in profiles):
        with open(ensure_tailoring(), "rb") as src:
            _ssh(host, f"cat > {remote}/tailoring.xml", step="scan: copy tailoring", stdin=src)


def _oscap(remote: str, profile: str, name: str) -> str:
    """The oscap command evaluating `profile` on the staged data stream into {name}.xml/.log."""
    tailor = f" --tailoring-file {remote}/tailoring.xml" if tailoring.is_tailored(profile) else ""
    return (
        f"oscap xccdf eval{tailor} --profile {profile} --results-arf {remote}/{name}.xml"
        f" {remote}/ds.xml > {remote}/{name}.log 2>&1"
    )


def _check_oscap(host: TestHost, remote: str, name: str, rc: int) -> None:
    """oscap: 0 = every rule passed, 2 = some failed; anything else is an evaluation error."""
    if rc not in (0, 2):
        tail = _ssh(host, f"tail -n 5 {remote}/{name}.log", step="scan: log", check=False)
        raise TestbedError(host.name, "oscap scan", f"exited {rc}: {tail.strip()}")


def _ssh(
    host: TestHost,
    command: str,
    *,
    step: str,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    check: bool = True,
) -> str:
    """Run `command` as the deploy user (no tty, binary-safe); stdout as text unless redirected."""
    proc = subprocess.run(
        host.ssh_argv(command),
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=600,
        check=False,
    )
    if check and proc.returncode != 0:
        raise TestbedError(host.name, step, proc.stderr.decode(errors="replace").strip()[-400:])
    return (proc.stdout or b"").decode(errors="replace")


def parse_results(
    path: Path, host: str = "", kind: str = "", datastream: Path | None = None
) -> ScanResult:
    """Parse an ARF or XCCDF results file: the TestResult, plus titles and ANSSI references
    of the rules from the Benchmark in the same file (or from `datastream` if it has none)."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise TestbedError(host or str(path), "parse results", str(exc)) from exc
    rules = rule_meta(root)
    if not rules and datastream is not None:
        rules = rule_meta(ET.parse(datastream).getroot())
    tests = list(root.iter(f"{XCCDF}TestResult"))
    if not tests:
        raise TestbedError(host or str(path), "parse results", "no XCCDF TestResult in file")
    test = tests[-1]
    profile_el = test.find(f"{XCCDF}profile")
    score_el = next(
        (s for s in test.findall(f"{XCCDF}score") if "default" in s.get("system", "")),
        test.find(f"{XCCDF}score"),
    )
    out = ScanResult(
        host=host or _target(test),
        kind=kind,
        profile=profile_el.get("idref", "") if profile_el is not None else "",
        score=float(score_el.text or 0) if score_el is not None else 0.0,
        score_max=float(score_el.get("maximum", 100)) if score_el is not None else 100.0,
        arf=path,
    )
    for rr in test.iter(f"{XCCDF}rule-result"):
        verdict = (rr.findtext(f"{XCCDF}result") or "").strip()
        if verdict == "notselected":
            continue
        rid = rr.get("idref", "")
        title, severity, anssi = rules.get(rid, ("", rr.get("severity", "unknown"), ()))
        out.rules.append(
            RuleResult(
                rule=rid.removeprefix(RULE_PREFIX),
                result=verdict,
                severity=rr.get("severity", severity),
                title=title,
                anssi=anssi,
            )
        )
    return out


def _target(test: ET.Element) -> str:
    return (test.findtext(f"{XCCDF}target") or "").strip()


def rule_meta(root: ET.Element) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """rule id -> (title, severity, ANSSI R-numbers sorted by number)."""
    meta = {}
    for rule in root.iter(f"{XCCDF}Rule"):
        refs = {
            (ref.text or "").strip()
            for ref in rule.findall(f"{XCCDF}reference")
            if ANSSI_HREF.search(ref.get("href", ""))
        }
        anssi = tuple(sorted((r for r in refs if r), key=lambda r: (len(r), r)))
        title = (rule.findtext(f"{XCCDF}title") or "").strip()
        meta[rule.get("id", "")] = (title, rule.get("severity", "unknown"), anssi)
    return meta


def generate_ssg_fix(profile: str = INTERMEDIARY) -> Path:
    """SSG's own bash remediation for `profile` (`oscap xccdf generate fix`), cached. For a
    tailored profile it is generated with our tailoring, so it applies the tailored values."""
    profile = full_profile(profile)
    ds = ensure_datastream()
    tailor = ensure_tailoring() if tailoring.is_tailored(profile) else None
    extra = ["--tailoring-file", str(tailor)] if tailor else []
    # A tailored fix is named after the tailoring's content version too.
    name = short_profile(profile) + (f"-{tailor.stem}" if tailor else "")
    dest = ssg_dir() / "fixes" / f"{name}.sh"
    if dest.exists() and dest.stat().st_mtime >= ds.stat().st_mtime:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f".{os.getpid()}.tmp")
    run(
        ["oscap", "xccdf", "generate", "fix", "--fix-type", "bash", *extra, "--profile", profile,
         "--output", tmp, ds],
        host="localhost",
        step="ssg generate fix",
        timeout=600,
    )  # fmt: skip
    tmp.replace(dest)
    return dest


@dataclass(frozen=True)
class FixRun:
    """SSG's remediation applied to a host: exit code, duration, and where its output went."""

    host: str
    script: Path
    returncode: int
    seconds: float
    log: Path


def apply_ssg_fix(host: TestHost, script: Path, timeout: float = 3600) -> FixRun:
    """Copy SSG's remediation script to `host` and run it with sudo (the comparison baseline).

    The script carries on past rules it cannot fix (no package download on the testbed, kernel
    settings in a container); its exit code is recorded, not treated as an error.
    """
    return fix_and_scan(host, script, [], timeout=timeout)[0]


def fix_and_scan(
    host: TestHost,
    script: Path,
    profiles: list[str],
    out_dir: Path | None = None,
    timeout: float = 3600,
) -> tuple[FixRun, list[ScanResult]]:
    """Run SSG's remediation on `host`, then scan it with `profiles` (none: the fix only), in
    one root session. The fix's exit code is recorded, not treated as an error.

    One session because SSG's remediation may take sudo away from the deploy user: the enhanced
    profile's `file_permissions_sudo` makes /usr/bin/sudo 4110 root:root (its
    `sudo_dedicated_group` fix is missing), after which no later `sudo` could scan the host."""
    profiles = [full_profile(p) for p in profiles]
    ensure_host_tools()
    out = out_dir or (cache_root() / "scans")
    out.mkdir(parents=True, exist_ok=True)
    logf = script.with_name(f"{host.name}-{script.stem}.log")
    remote = _ssh(host, "mktemp -d /var/tmp/hdh-ssgfix.XXXXXX", step="ssg fix: temp dir").strip()
    try:
        _stage(host, remote, profiles)
        with open(script, "rb") as src:
            _ssh(host, f"cat > {remote}/fix.sh", step="copy ssg fix", stdin=src)
        steps = [
            f"date +%s.%N > {remote}/fix.time",
            f"bash {remote}/fix.sh > {remote}/fix.log 2>&1; echo $? > {remote}/fix.rc",
            f"date +%s.%N >> {remote}/fix.time",
            *(f"{_oscap(remote, p, f'arf{i}')}; echo $? > {remote}/arf{i}.rc"
              for i, p in enumerate(profiles)),
            f"chown -R {host.user} {remote}",
        ]  # fmt: skip
        inner = "; ".join(steps)
        log.info("%s: applying SSG remediation %s, then %d scan(s)", host.name, script.name,
                 len(profiles))  # fmt: skip
        t0 = time.monotonic()
        proc = _on_tty(host, f"sudo -n bash -c {shlex.quote(inner)}", "ssg fix", timeout)
        if proc.returncode != 0:
            err = (proc.stdout + proc.stderr).decode(errors="replace").strip()[-400:]
            raise TestbedError(host.name, "ssg fix", f"exited {proc.returncode}: {err}")
        total = time.monotonic() - t0
        start, end = (
            float(x) for x in _ssh(host, f"cat {remote}/fix.time", step="ssg fix: time").split()
        )
        with open(logf, "wb") as dest:
            _ssh(host, f"cat {remote}/fix.log", step="ssg fix: log", stdout=dest)
        fix_rc = int(_ssh(host, f"cat {remote}/fix.rc", step="ssg fix: exit code").strip())
        results = []
        for i, p in enumerate(profiles):
            rc = int(_ssh(host, f"cat {remote}/arf{i}.rc", step="scan: exit code").strip())
            _check_oscap(host, remote, f"arf{i}", rc)
            arf = out / f"{host.name}-{short_profile(p)}-{time.strftime('%Y%m%dT%H%M%S')}.arf.xml"
            with open(arf, "wb") as dest:
                _ssh(host, f"cat {remote}/arf{i}.xml", step="scan: fetch results", stdout=dest)
            results.append(parse_results(arf, host=host.name, kind=host.kind))
    finally:
        _ssh(host, f"rm -rf {remote}", step="ssg fix: clean up", check=False)
    fix = FixRun(host.name, script, fix_rc, end - start, logf)
    for r in results:  # the scans shared the rest of the session
        r.seconds = (total - fix.seconds) / len(results)
    log.info("%s: SSG remediation exited %d; %s", host.name, fix_rc,
             "; ".join(r.summary() for r in results))  # fmt: skip
    return fix, results


def twin_name() -> str:
    """The testbed name of the SSG twin of the current testbed."""
    return f"{hosts.prefix()}s"


@dataclass(frozen=True)
class SsgBaseline:
    """SSG's own remediation on a fresh twin container: scores before and after, and the run."""

    profile: str
    before: ScanResult
    after: ScanResult
    fix: FixRun
    also: dict[str, ScanResult] = field(default_factory=dict)  # other profiles, after the fix


def ssg_baseline(
    profile: str = INTERMEDIARY,
    twin: str | None = None,
    also: tuple[str, ...] = (),
    out_dir: Path | None = None,
) -> SsgBaseline:
    """Boot a twin container (separate testbed `twin`, not in the main inventory), scan it,
    apply SSG's generated bash remediation for `profile`, scan again (and with the `also`
    profiles, for the record), take the twin down.

    The twin is named after the current testbed (`hdh-tb` -> `hdh-tbs`), so two testbeds
    never share one."""
    profile = full_profile(profile)
    script = generate_ssg_fix(profile)
    with named(twin or twin_name()):
        try:
            (host,) = hosts.up(containers=1)
            before = scan(host, profile, out_dir=out_dir)
            fix, (after, *others) = fix_and_scan(host, script, [profile, *also], out_dir)
            extra = {full_profile(p): r for p, r in zip(also, others, strict=True)}
        finally:
            hosts.down()
    return SsgBaseline(profile, before, after, fix, extra)
