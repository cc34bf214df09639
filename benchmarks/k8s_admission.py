"""Benchmark: a real API server with the platform's admission, the baseline on it, requests judged.

    uv run python benchmarks/k8s_admission.py [--bubbles 3] [--requests 50]

Phases, each timed (the same harness as the k8s test tier, tests/components/k8s_apiserver.py):
etcd + kube-apiserver (the platform's flags) ready; kube-controller-manager; `pulumi up` of the
per-bubble baseline through the real engine and Kubernetes provider (--bubbles bubbles); then
--requests server-side dry-run creations as a bubble member, half refused (privileged pod), half
admitted (compliant pod), as the administrator (Pod Security and the policies judge every user
alike), each a whole kubectl process: median and p90 per request. Cold caches
(the bundle unpacked, kube-controller-manager built) are not counted: run the k8s tier once.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

from components.config import stack_path
from ground.paths import ROOT
from hdh.engine import ThrowawayProgram
from tests.components.test_k8s_admission import STACK, USERS, _cluster, _container, _pod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--bubbles", type=int, default=3)
    ap.add_argument("--requests", type=int, default=50)
    args = ap.parse_args()
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        server = _cluster(work / "apiserver")
        times["etcd + kube-apiserver + controller manager ready"] = time.perf_counter() - t
        try:
            doc = yaml.safe_load(stack_path(STACK).read_text())
            doc["config"]["hdh:bubbles"] = [{"name": f"b{i:03d}"} for i in range(args.bubbles)]
            doc["config"]["hdh:bubblePool"] = {"cidr": "10.68.0.0/14", "prefixLength": 24}
            stack_file = work / f"Pulumi.{STACK}.yaml"
            stack_file.write_text(yaml.safe_dump(doc))
            src = ROOT / "tests" / "components" / "programs" / "k8s_baseline"
            program = ThrowawayProgram(work / "baseline", src)
            program.run("config", "set", "stack", STACK)
            program.run("config", "set", "stackFile", str(stack_file))
            program.run("config", "set", "--secret", "kubeconfig", stdin=server.kubeconfig("admin"))
            t = time.perf_counter()
            program.run("up", "--yes", "--skip-preview")
            times[f"pulumi up, baseline of {args.bubbles} bubbles"] = time.perf_counter() - t
            ns = "bubble-b000"
            latencies: dict[str, list[float]] = {"refused": [], "admitted": []}
            bad = _container(_pod("bad", ns), securityContext={"privileged": True})
            good = _pod("good", ns, automountServiceAccountToken=False)
            for i in range(args.requests):
                kind, pod = ("refused", bad) if i % 2 else ("admitted", good)
                t = time.perf_counter()
                done = server.apply("admin", pod, "--dry-run=server")
                latencies[kind].append(time.perf_counter() - t)
                assert (done.returncode != 0) == (kind == "refused"), done.stderr
        finally:
            server.stop()
    print(f"Kubernetes admission benchmark (stack {STACK}, users {sorted(USERS)})")
    for phase, seconds in times.items():
        print(f"  {phase:<55} {seconds:>7.2f} s")
    for kind, values in latencies.items():
        values.sort()
        p90 = values[int(len(values) * 0.9) - 1]
        median = statistics.median(values) * 1000
        label = f"{kind} request (kubectl, dry run)"
        print(
            f"  {label:<55} median {median:>6.0f} ms  p90 {p90 * 1000:>6.0f} ms (n={len(values)})"
        )
    print(json.dumps({"phases_s": times}, sort_keys=True), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
