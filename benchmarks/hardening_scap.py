"""Benchmark: hardening runs (first, idempotent re-run, 10 containers at once) and OpenSCAP scores
before / after our hardening / after SSG's own remediation, side by side.

    uv run python benchmarks/hardening_scap.py [--fleet 10] [--role base]
        [--profile anssi_bp28_intermediary_hdh] [--out build/scap-bench]

The judge is our tailored profile (hardening/data/scap_tailoring.yaml) for both hosts, SSG's
remediation generated from it; both hosts are also scanned with the stock profile, for the record.

Runs on testbeds of its own (`hdh-hb`, its SSG twin `hdh-hbs`), so hosts already up are left
alone. Prints two Markdown tables on stdout (times, scores); progress goes to stderr; the full
comparison report (report.json, report.md) goes to --out.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import testbed
from benchmarks import Row, timed
from hardening import tailoring
from hardening.run import HostResult, harden_hosts
from testbed import scap, scap_report


def _changes(results: list[HostResult]) -> str:
    errors = [r.error for r in results if r.error]
    if errors:
        raise SystemExit(f"hardening failed: {errors[0]}")
    changed = [len(r.changed) for r in results]
    ops = results[0].operations
    if len(results) == 1:
        return f"{ops} operations, {changed[0]} changed"
    return f"{len(results)} hosts, {ops} operations each, {min(changed)}-{max(changed)} changed"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fleet", type=int, default=10, help="containers hardened in parallel")
    ap.add_argument("--role", default="base")
    ap.add_argument(
        "--profile",
        default="anssi_bp28_intermediary_hdh",
        help="judging profile (_hdh: tailored); the stock one is scanned too",
    )
    ap.add_argument("--out", type=Path, default=Path("build/scap-bench"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    os.environ["HDH_TESTBED_NAME"] = "hdh-hb"
    state = Path(tempfile.mkdtemp(prefix="hdh-hb-"))
    os.environ["HDH_TESTBED_STATE"] = str(state)
    rows: list[Row] = []
    profile = scap.full_profile(args.profile)
    stock_profile = scap.PROFILE_PREFIX + tailoring.base_name(profile)
    try:
        (host,) = timed("1 container up", lambda: testbed.up(containers=1), rows)
        before = timed("scan before hardening", lambda: scap.scan(host, profile), rows)
        first = timed(
            "hardening, first run", lambda: harden_hosts([host.pyinfra_host(args.role)]), rows
        )
        rows[-1] = (*rows[-1][:2], _changes(first))
        again = timed(
            "hardening, re-run", lambda: harden_hosts([host.pyinfra_host(args.role)]), rows
        )
        rows[-1] = (*rows[-1][:2], _changes(again))
        ours = timed("scan after our hardening", lambda: scap.scan(host, profile), rows)
        ours_stock = timed(
            "scan after our hardening, stock profile", lambda: scap.scan(host, stock_profile), rows
        )
        testbed.down()
        fleet = timed(
            f"{args.fleet} containers up", lambda: testbed.up(containers=args.fleet), rows
        )
        many = timed(
            f"hardening {args.fleet} containers in parallel, first run",
            lambda: harden_hosts([h.pyinfra_host(args.role) for h in fleet], parallel=args.fleet),
            rows,
        )
        rows[-1] = (*rows[-1][:2], _changes(many))
        many = timed(
            f"hardening {args.fleet} containers in parallel, re-run",
            lambda: harden_hosts([h.pyinfra_host(args.role) for h in fleet], parallel=args.fleet),
            rows,
        )
        rows[-1] = (*rows[-1][:2], _changes(many))
        testbed.down()
        ssg = timed(
            "SSG twin: scan, remediation, scan (+ stock)",
            lambda: scap.ssg_baseline(profile, also=(stock_profile,)),
            rows,
        )
        rows[-1] = (
            *rows[-1][:2],
            f"remediation {ssg.fix.seconds:.0f} s, exit {ssg.fix.returncode}",
        )
    finally:
        testbed.down()
        shutil.rmtree(state, ignore_errors=True)
    doc = scap_report.compare(
        before,
        ours,
        ssg.after,
        "container",
        args.role,
        datastream=scap.ensure_datastream(),
        ours_stock=ours_stock,
        ssg_stock=ssg.also.get(stock_profile),
    )
    scap_report.write(doc, args.out)
    print("| step | seconds | result |")
    print("|---|---:|---|")
    for label, seconds, note in rows:
        print(f"| {label} | {seconds:.1f} | {note} |")
    print()
    print(
        f"| `{scap.short_profile(profile)}`, container | score | pass | fail | n/a | notchecked |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, res in (
        ("before hardening", before),
        (f"our hardening (role {args.role})", ours),
        ("SSG's generated remediation", ssg.after),
        (f"our hardening, stock `{scap.short_profile(stock_profile)}`", ours_stock),
        (
            f"SSG's remediation, stock `{scap.short_profile(stock_profile)}`",
            ssg.also[stock_profile],
        ),
    ):
        c = res.counts
        print(
            f"| {label} | {res.score:.2f} | {c['pass']} | {c['fail']} | {c['notapplicable']} | "
            f"{c['notchecked']} |"
        )
    print(
        f"\nours - SSG: {doc['ours_minus_ssg']:+.2f}; with our deliberate deviations counted as "
        f"SSG's host has them: {doc['ours_with_deviations_as_ssg']:.2f}; failures left: "
        f"{doc['categories']}; report: {args.out / 'report.md'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
