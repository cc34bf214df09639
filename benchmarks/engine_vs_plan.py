"""Benchmark: real engine `pulumi preview` vs the credential-free plan, 1/10/50/250 bubbles.

    uv run python benchmarks/engine_vs_plan.py [--stack ovh-gra] [--sizes 1,10,50,250]

The preview runs in a throwaway copy of the project (hdh/engine.py) with the real providers and
no account; the plan in a fresh process (benchmarks/plan.py). Both times include nothing but the
run itself (the copy and `stack init` are outside the preview's time).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.plan import measure
from hdh.engine import ThrowawayProject

PINNED = {
    "hdh:imageId": "5f0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a01",
    "hdh:externalNetworkId": "6a0c2a5e-1d3b-4b6e-9a77-0d2b3e3c1a02",
}


def preview_seconds(stack: str, n: int, work: Path) -> tuple[float, int]:
    bubbles = [{"name": f"b{i:03d}", "workspaces": 1} for i in range(n)]
    project = ThrowawayProject(work / f"{stack}-{n}", stack, {**PINNED, "hdh:bubbles": bubbles})
    start = time.perf_counter()
    preview = project.preview_json()
    return time.perf_counter() - start, len(preview["steps"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack", default="ovh-gra")
    ap.add_argument("--sizes", default="1,10,50,250")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hdh-bench-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            engine_s, steps = preview_seconds(args.stack, n, Path(tmp))
            plan = measure(args.stack, n)
            rows.append((n, steps, engine_s, plan["plan_s"], plan["wall_s"]))
            print(
                f"  {n} bubbles: preview {engine_s:.1f} s, plan {plan['plan_s']:.1f} s",
                file=sys.stderr,
            )
    print(f"engine preview vs credential-free plan, stack {args.stack}")
    print(
        f"{'bubbles':>8} {'steps':>6} {'preview s':>10} {'plan s':>8} {'plan wall s':>12} "
        f"{'preview/plan':>13}"
    )
    for n, steps, e, p, w in rows:
        print(f"{n:>8} {steps:>6} {e:>10.1f} {p:>8.2f} {w:>12.2f} {e / w:>13.1f}")
    print(json.dumps({"rows": rows}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
