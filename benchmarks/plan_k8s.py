"""Benchmark: plan time the processing cluster and its per-bubble baseline add, 1 to 250 bubbles.

    uv run python benchmarks/plan_k8s.py [--stack ovh-sbg] [--sizes 1,10,50,250] [--repeat 3]

For each size the same stack is planned with `hdh:kubernetes.enabled` false and true, each run in
a fresh process (best of --repeat kept). "added ms/bubble" is the extra time divided by the
bubbles; "res/bubble" the extra resources per bubble beyond the cluster's fixed ones.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from ground.paths import ROOT

CHILD = """
import json, sys, time
from hdh.plan import plan_stack
n, enabled = int(sys.argv[2]), sys.argv[3] == "on"
bubbles = json.dumps([{"name": f"b{i:03d}", "workspaces": 1} for i in range(n)])
k8s = json.dumps({"enabled": enabled})
t = time.perf_counter()
plan = plan_stack(sys.argv[1], overrides={"hdh:bubbles": bubbles, "hdh:kubernetes": k8s})
print(json.dumps({"resources": len(plan.resources), "plan_s": time.perf_counter() - t}))
"""


def measure(stack: str, n: int, enabled: bool, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, stack, str(n), "on" if enabled else "off"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    best: dict[str, float] = min(runs, key=lambda r: r["plan_s"])
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--stack", default="ovh-sbg", help="ovh-sbg: kubeadm, scs-de: magnum")
    ap.add_argument("--sizes", default="1,10,50,250")
    ap.add_argument("--repeat", type=int, default=3, help="runs per point; the best is kept")
    args = ap.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        off = measure(args.stack, n, False, args.repeat)
        on = measure(args.stack, n, True, args.repeat)
        rows.append((n, off, on))
        print(f"  {n} bubbles: {off['plan_s']:.2f} s -> {on['plan_s']:.2f} s", file=sys.stderr)
    print(f"Kubernetes plan benchmark, stack {args.stack}, best of {args.repeat}")
    print(
        f"{'bubbles':>8} {'res off':>8} {'res on':>8} {'s off':>7} {'s on':>7} {'added s':>8} "
        f"{'added ms/bubble':>16} {'res/bubble':>11}"
    )
    first_n, first_off, first_on = rows[0]
    fixed = first_on["resources"] - first_off["resources"]  # cluster + its per-bubble share
    for n, off, on in rows:
        added = on["plan_s"] - off["plan_s"]
        extra = on["resources"] - off["resources"]
        per_bubble = (extra - fixed) / (n - first_n) if n > first_n else float("nan")
        print(
            f"{n:>8} {int(off['resources']):>8} {int(on['resources']):>8} {off['plan_s']:>7.2f} "
            f"{on['plan_s']:>7.2f} {added:>8.2f} {added / n * 1000:>16.1f} {per_bubble:>11.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
