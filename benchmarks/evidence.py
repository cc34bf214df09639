"""Benchmark: `hdh evidence` (bundle from a plan JSON) and `--verify` for 1, 50, 250 bubbles.

    uv run python benchmarks/evidence.py [--stack ovh-gra] [--sizes 1,50,250]

Each command runs as a person runs it, in a fresh process (start-up included). The plan JSON is
made first (not timed: benchmarks/plan.py measures that). Printed: resources, bundle build and
verify wall times, `sha256sum -c` for comparison, bundle size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ground.paths import ROOT

PLAN = """
import json, sys
from hdh.plan import plan_stack
n = int(sys.argv[2])
bubbles = json.dumps([{"name": f"b{i:03d}", "workspaces": 1} for i in range(n)])
plan = plan_stack(sys.argv[1], overrides={"hdh:bubbles": bubbles})
open(sys.argv[3], "w").write(json.dumps(plan.to_json()))
print(len(plan.resources))
"""


def timed(argv: list[str], cwd: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack", default="ovh-gra")
    ap.add_argument("--sizes", default="1,50,250")
    args = ap.parse_args()
    hdh = [sys.executable, "-m", "hdh.cli", "--progress", "plain"]
    print("bubbles resources  build s  verify s sha256sum s    KiB")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            plan = Path(tmp) / "plan.json"
            out = subprocess.run(
                [sys.executable, "-c", PLAN, args.stack, str(n), str(plan)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            bundle = Path(tmp) / "bundle"
            build = timed(
                [
                    *hdh,
                    "evidence",
                    "--stack",
                    args.stack,
                    "--state",
                    str(plan),
                    "--out",
                    str(bundle),
                ]
            )
            verify = timed([*hdh, "evidence", "--verify", str(bundle)])
            sums = timed(["sha256sum", "-c", "--quiet", "MANIFEST.sha256"], cwd=bundle)
            size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()) // 1024
            print(f"{n:>7} {out.strip():>9} {build:>8.2f} {verify:>9.2f} {sums:>11.3f} {size:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
