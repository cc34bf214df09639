"""Benchmark: configuring the services tier on a fleet, and the re-run that changes nothing.

    HDH_PKI_PASSPHRASE=... uv run python benchmarks/services.py [--areas-only]

Brings up the services fleet (testbed/fleet.py: bastion, services host, data host, workspace on
their tier networks; a testbed named `hdh-tbsv`, its own state), then times `hdh harden
--inventory outputs.json` as an operator runs it (process start included): the first run (all
areas, two waves), a re-run (must change nothing), and `--areas` of the services tier alone on
hosts already hardened (what changing the allow-list or the alert rules costs). Takes the fleet
down at the end. Prints a Markdown table on stdout (seconds, hosts, operations, changes, and the
re-run's ratio to the first run); progress on stderr. Root only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import Row, timed
from ground.paths import ROOT
from testbed import fleet

SERVICES_AREAS = "pki,logging,time,firewall,egress,collector,monitoring,backups"


def harden(outputs: Path, key: Path, work: Path, *extra: str) -> list[dict]:
    report = work / "results.json"
    argv = [
        str(Path(sys.executable).with_name("hdh")), "harden", "--inventory", str(outputs),
        "--ssh-key", str(key), "--known-hosts", "/dev/null", "--host-key-check", "no",
        "--pki-dir", str(work / "pki"), "--json", str(report), *extra,
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"hdh harden failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return list(json.loads(report.read_text()))


def _note(results: list[dict]) -> str:
    ops = sum(r["operations"] for r in results)
    changed = sum(len(r["changed"]) for r in results)
    return f"{len(results)} hosts, {ops} operations, {changed} changed"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    os.environ.setdefault("HDH_PKI_PASSPHRASE", "benchmark-only-ca-passphrase")
    os.environ["HDH_TESTBED_NAME"] = "hdh-tbsv"
    state = Path(tempfile.mkdtemp(prefix="hdh-tbsv-"))
    os.environ["HDH_TESTBED_STATE"] = str(state)
    work = Path(tempfile.mkdtemp(prefix="hdh-services-bench-"))
    rows: list[Row] = []
    try:
        hosts = timed("fleet up (4 containers, networks, repository)", fleet.up, rows)
        outputs = work / "outputs.json"
        outputs.write_text(json.dumps(fleet.inventory(hosts)))
        key = hosts["bastion"].key_path
        first = timed("first run: all areas, 4 hosts", lambda: harden(outputs, key, work), rows)
        rows[-1] = (*rows[-1][:2], _note(first))
        again = timed("re-run: nothing to change", lambda: harden(outputs, key, work), rows)
        rows[-1] = (*rows[-1][:2], _note(again) + f", {rows[-1][1] / rows[-2][1]:.2f}x first")
        tier_only = timed(
            "services tier areas only (hardened hosts)",
            lambda: harden(outputs, key, work, "--areas", SERVICES_AREAS),
            rows,
        )
        rows[-1] = (*rows[-1][:2], _note(tier_only))
    finally:
        fleet.down()
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print("| step | seconds | result |")
    print("|---|---:|---|")
    for label, seconds, note in rows:
        print(f"| {label} | {seconds:.1f} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
