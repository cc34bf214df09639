"""Benchmark: start-up of `hdh` commands, process start included, as ratios to a bare Python.

    uv run python benchmarks/startup.py [--runs 7] [--resources 10000] [--stack ovh-sbg]

Every figure is a whole process (`.venv/bin/hdh ...`), run --runs times in turn with a bare
`python -c pass` of the same venv, so that a noisy machine slows both alike: the table gives
each command's median wall and CPU time, its peak memory (the process's maximum RSS) and the
median of the per-round ratios to the bare interpreter. Targets (issue 18): `hdh --help` 0.3 s,
`hdh policy check` of a ~100-resource export 0.8 s, of a 10,000-resource export 2 s.

The exports are `pulumi stack export` v3 documents made from the real program's plan (every
resource kind of a platform with Kubernetes: nested inputs, secrets as ciphertext objects,
outputs with ids), the large one topped up with renamed copies (benchmarks/policy_check.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.policy_check import export_of
from ground.paths import ROOT

BIN = ROOT / ".venv" / "bin"
TARGETS = {"hdh --help": 0.3, "policy check, small": 0.8, "policy check, 10k": 2.0}


def run_once(argv: list[str]) -> tuple[float, float, float]:
    """(wall s, cpu s, peak MiB) of one process, from the kernel's accounting of the child."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


MAKE = """
import sys
from pathlib import Path
from benchmarks.startup import exports
print(exports(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))[2])
"""


def exports(stack: str, size: int, work: Path) -> tuple[Path, Path, int]:
    from hdh.plan import plan_stack

    small_plan = plan_stack("local").to_json()
    small = work / "small.json"
    small.write_text(json.dumps(export_of(small_plan, len(small_plan["resources"]))))
    bubbles = json.dumps([{"name": f"b{i:03d}", "workspaces": 1} for i in range(250)])
    big_plan = plan_stack(stack, overrides={"hdh:bubbles": bubbles}).to_json()
    big = work / "big.json"
    big.write_text(json.dumps(export_of(big_plan, size)))
    return small, big, len(small_plan["resources"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--resources", type=int, default=10_000)
    ap.add_argument("--stack", default="ovh-sbg", help="a stack with Kubernetes (more kinds)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("making the exports from the plan ...", file=sys.stderr)
        # In a child: the kernel counts a forked child's pre-exec image in its peak RSS, so the
        # measuring process must stay as small as the bare interpreter.
        made = subprocess.run(
            [sys.executable, "-c", MAKE, args.stack, str(args.resources), str(work)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        small, big, n_small = work / "small.json", work / "big.json", int(made.stdout)
        report = str(work / "report.json")
        check = [str(BIN / "hdh"), "policy", "check", "--format", "json", "--output", report]
        commands = {
            "python -c pass": [str(BIN / "python"), "-c", "pass"],
            "hdh --help": [str(BIN / "hdh"), "--help"],
            "policy check, small": [*check, "--state", str(small)],
            "policy check, 10k": [*check, "--state", str(big)],
        }
        for argv in commands.values():  # warm the page cache and the bytecode
            run_once(argv)
        rounds: dict[str, list[tuple[float, float, float]]] = {k: [] for k in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                rounds[name].append(run_once(argv))
    bare = rounds["python -c pass"]
    print(
        f"start-up, {args.runs} rounds, median (cpus: {os.cpu_count()}); small export "
        f"{n_small} resources, large {args.resources} ({args.stack} + 250 bubbles, copies)"
    )
    print(f"{'command':22} {'wall s':>7} {'cpu s':>6} {'peak MiB':>9} {'x python':>9} target")
    for name, runs in rounds.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        peak = max(r[2] for r in runs)
        ratio = statistics.median(r[0] / b[0] for r, b in zip(runs, bare, strict=True))
        target = TARGETS.get(name)
        verdict = (
            "" if target is None else f"{target:.1f} s: {'met' if wall <= target else 'MISSED'}"
        )
        print(f"{name:22} {wall:7.3f} {cpu:6.3f} {peak:9.1f} {ratio:9.1f} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
