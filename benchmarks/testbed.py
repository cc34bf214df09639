"""Benchmark: testbed image build (cold/warm), boot to SSH (1 and 10 containers, VM), a scan.

    uv run python benchmarks/testbed.py [--cold] [--no-vm] [--ssg] [--containers 1,10]

Runs as a separate testbed (names `hdh-tbb-*`, its own state directory) so hosts already up are
untouched. `--cold` builds the image in an empty temporary cache too (~2 min, downloads the
packages again). `--ssg` adds SSG's own remediation on a twin container with scores before and
after. Prints a Markdown table on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path

import testbed
from benchmarks import Row, timed
from testbed import scap


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", action="store_true", help="also time a build in an empty cache")
    ap.add_argument("--no-vm", action="store_true", help="skip the VM boot")
    ap.add_argument("--ssg", action="store_true", help="SSG remediation on a twin container")
    ap.add_argument("--containers", default="1,10", help="fleet sizes to boot, comma-separated")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    os.environ["HDH_TESTBED_NAME"] = "hdh-tbb"
    state = Path(tempfile.mkdtemp(prefix="hdh-tbb-"))
    os.environ["HDH_TESTBED_STATE"] = str(state)
    rows: list[Row] = []
    try:
        if args.cold:
            cold_cache = Path(tempfile.mkdtemp(prefix="hdh-cache-cold-"))
            os.environ["HDH_CACHE"] = str(cold_cache)
            try:
                timed("image build, cold (empty cache)", testbed.ensure_image, rows)
            finally:
                shutil.rmtree(cold_cache, ignore_errors=True)
                del os.environ["HDH_CACHE"]
        timed("image build (cache as found)", testbed.ensure_image, rows)
        timed("image build, warm (cached)", testbed.ensure_image, rows)
        for n in (int(s) for s in args.containers.split(",") if s):
            timed(f"{n} container(s) up to SSH", partial(testbed.up, containers=n), rows)
            timed(f"{n} container(s) down", testbed.down, rows)
        if not args.no_vm:
            timed("VM up to SSH", lambda: testbed.up(containers=0, vm=True), rows)
            timed("VM down", testbed.down, rows)
        (host,) = testbed.up(containers=1)
        for profile in (scap.INTERMEDIARY, scap.ENHANCED):
            res = timed(
                f"scan {scap.short_profile(profile)}, container",
                partial(scap.scan, host, profile),
                rows,
            )
            rows[-1] = (rows[-1][0], rows[-1][1], _score(res))
        if args.ssg:
            script = timed("generate SSG fix (intermediary)", scap.generate_ssg_fix, rows)
            fix = timed("apply SSG fix, container", lambda: scap.apply_ssg_fix(host, script), rows)
            rows[-1] = (rows[-1][0], rows[-1][1], f"exit {fix.returncode}")
            for profile in (scap.INTERMEDIARY, scap.ENHANCED):
                res = timed(
                    f"scan {scap.short_profile(profile)} after SSG fix",
                    partial(scap.scan, host, profile),
                    rows,
                )
                rows[-1] = (rows[-1][0], rows[-1][1], _score(res))
    finally:
        testbed.down()
        shutil.rmtree(state, ignore_errors=True)
    print("| step | seconds | result |")
    print("|---|---:|---|")
    for label, seconds, note in rows:
        print(f"| {label} | {seconds:.1f} | {note} |")
    return 0


def _score(res: scap.ScanResult) -> str:
    c = res.counts
    return (
        f"score {res.score:.2f}, {c['pass']} pass / {c['fail']} fail / "
        f"{c['notapplicable']} n/a / {c['notchecked']} notchecked"
    )


if __name__ == "__main__":
    sys.exit(main())
