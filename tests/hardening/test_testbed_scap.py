"""The external judge: OpenSCAP scores our hardening against SSG's own remediation (twin hosts).

For each BP-028 level, a fresh container (a testbed of its own, so the session's hosts and
inventory stay as they are) is scanned with our tailored profile (SSG's profile with the values of
hardening/data/scap_tailoring.yaml), hardened with a role of that level (`base`: intermediary,
`bastion`: enhanced) and scanned again, with the tailored profile and, for the record, the stock
one. SSG's remediation generated from the same tailored profile runs on a twin container (the
session's `ssg_baseline` / `ssg_baseline_enhanced`). The reports go to build/scap/ and
build/scap-enhanced/ (report.json, report.md): scores side by side, the tailoring with the stock
verdicts, and every failure left on our host with its reason from
hardening/data/scap_explanations.yaml.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest

import testbed
from ground.paths import ROOT
from hardening.run import HostResult, harden_hosts
from testbed import scap, scap_report
from testbed.paths import named

pytestmark = pytest.mark.testbed


class Judged(NamedTuple):
    before: scap.ScanResult
    after: scap.ScanResult
    stock: scap.ScanResult
    run: HostResult
    doc: dict[str, Any]
    summary: str


def judge(
    profile: str, stock_profile: str, role: str, suffix: str, out: Path, ssg: scap.SsgBaseline
) -> Judged:
    """Scan, harden, scan one fresh container (taken down whatever happens); compare with SSG."""
    with named(f"{testbed.prefix()}{suffix}"):
        try:
            (host,) = testbed.up(containers=1)
            before = scap.scan(host, profile, out_dir=out)
            (run,) = harden_hosts([host.pyinfra_host(role)])
            after = scap.scan(host, profile, out_dir=out)
            stock = scap.scan(host, stock_profile, out_dir=out)
        finally:
            testbed.down()
    assert run.error is None, run.error
    assert after.profile == ssg.after.profile == profile  # one judge for both
    doc = scap_report.compare(
        before,
        after,
        ssg.after,
        "container",
        role,
        datastream=scap.ensure_datastream(),
        ours_stock=stock,
        ssg_stock=ssg.also[stock_profile],
    )
    scap_report.write(doc, out)
    summary = json.dumps(
        {k: doc[k] for k in ("ours_minus_ssg", "ours_with_deviations_as_ssg", "categories")}
        | {"stock_ours": round(stock.score, 2)}
    )
    print(f"\n{before.summary()}\n{after.summary()}\n{ssg.after.summary()}\n{stock.summary()}")
    print(summary)
    return Judged(before, after, stock, run, doc, summary)


def assert_judged(j: Judged, ssg: scap.ScanResult, out: Path, passes: list[str]) -> None:
    assert j.after.counts["error"] == 0
    assert j.after.score >= j.before.score + 15, (j.before.score, j.after.score)
    # The judge's verdict the issue asks for: ours scores higher than or equal to SSG's own.
    assert j.after.score >= ssg.score, j.summary
    verdict = {r.rule: r.result for r in j.after.rules}
    assert {r: verdict.get(r) for r in passes} == dict.fromkeys(passes, "pass")
    # Every failure left on our host has a documented reason, for this kind of host.
    assert j.doc["unexplained"] == [], f"unexplained failures (see {out / 'report.md'})"
    # SSG's remediation passes a rule we fail only where we deviate on purpose ...
    assert j.doc["ssg_better_not_deliberate"] == [], j.doc["ssg_better_not_deliberate"]
    # ... and those decisions are the whole difference: counted as SSG counts them, ours is at
    # least as high. The raw scores stay in the report (report.md: "Ours minus SSG's").
    assert j.doc["ours_with_deviations_as_ssg"] >= round(ssg.score, 2), j.summary
    assert j.doc["ours_better"], "our hardening passes nothing SSG's misses?"


def test_intermediary_against_ssg_remediation(ssg_baseline: scap.SsgBaseline) -> None:
    out = ROOT / "build" / "scap"
    j = judge(scap.INTERMEDIARY_HDH, scap.INTERMEDIARY, "base", "o", out, ssg_baseline)
    # 220 rules in the stock profile, one (a known-wrong check) deselected by the tailoring
    assert sum(j.after.counts.values()) == 219 and sum(j.stock.counts.values()) == 220
    # The rules the tailoring re-values pass on our host under the tailored profile: ours
    # applies exactly the values the tailoring declares.
    revalued = [
        "accounts_password_pam_unix_rounds_password_auth",
        "postfix_client_configure_mail_alias",
        "sysctl_net_ipv4_conf_all_arp_filter",
    ]
    assert j.doc["tailoring"]
    assert_judged(j, ssg_baseline.after, out, revalued)


def test_enhanced_against_ssg_remediation(ssg_baseline_enhanced: scap.SsgBaseline) -> None:
    """The enhanced level (bastion role): logs forwarded over TLS to the container's collector,
    one audit rule per setuid program, sudo restricted to its group (tailored value)."""
    out = ROOT / "build" / "scap-enhanced"
    j = judge(scap.ENHANCED_HDH, scap.ENHANCED, "bastion", "e", out, ssg_baseline_enhanced)
    passes = [
        "sudo_dedicated_group",  # re-valued by the tailoring: our R38 group
        "package_rsyslog-gnutls_installed",
        "rsyslog_remote_tls",
        "rsyslog_remote_tls_cacert",
    ]
    assert_judged(j, ssg_baseline_enhanced.after, out, passes)
