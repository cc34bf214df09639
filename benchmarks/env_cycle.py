"""Throwaway cycle benchmark: `hdh env cycle --from local` on the local cloud, time per phase.

    sudo uv run python -m benchmarks.env_cycle [--runs 1] [--ssh-timeout 30]

Each run is the real command in a fresh process (start-up included), against the running local
cloud (brought up first, taken down at the end), with its own file:// backend. Also
timed: `hdh env reap` over an empty backend (the hourly job's cost when there is nothing to do).
JSON on stdout, progress on stderr. With Nova's fake driver no guest boots: `ssh` is the time
spent waiting (--ssh-timeout) and `harden`/`verify` are not run; the figures say so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ground.paths import ROOT
from localcloud import cloud

HDH = [sys.executable, "-m", "hdh.cli", "--progress", "plain"]


def one_cycle(env: dict[str, str], tmp: Path, i: int, ssh_timeout: float) -> dict[str, Any]:
    out = tmp / f"cycle{i}.json"
    t0 = time.monotonic()
    res = subprocess.run(
        [
            *HDH,
            "env",
            "cycle",
            "--from",
            "local",
            "--ttl",
            "1h",
            "--id",
            f"bench{i}",
            "--ssh-timeout",
            str(ssh_timeout),
            "--json",
            str(out),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = round(time.monotonic() - t0, 1)
    doc = json.loads(out.read_text())
    return {
        "exit": res.returncode,
        "wall_s": wall,
        "phases": {p["name"]: {"status": p["status"], "s": p["seconds"]} for p in doc["phases"]},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--ssh-timeout", type=float, default=30.0)
    args = ap.parse_args()
    print("bench: local cloud up", file=sys.stderr)
    os_env = cloud.up()
    results: dict[str, Any] = {"cycles": []}
    try:
        run(os_env, args, results)
    finally:
        print("bench: local cloud down", file=sys.stderr)
        cloud.down()
    print(json.dumps(results, indent=1))
    return 0


def run(os_env: dict[str, str], args: argparse.Namespace, results: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="hdh-bench-env-") as tmp:
        env = {
            **os.environ,
            **os_env,
            "HDH_CACHE": str(Path(tmp) / "cache"),
            "HDH_BACKEND_URL": f"file://{tmp}/state",
            "PULUMI_CONFIG_PASSPHRASE": "benchmark-only",
        }
        t0 = time.monotonic()
        subprocess.run(
            [*HDH, "env", "reap", "--no-orphans"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        results["reap_empty_backend_s"] = round(time.monotonic() - t0, 1)
        t0 = time.monotonic()
        subprocess.run([*HDH, "env", "reap"], env=env, cwd=ROOT, check=True, capture_output=True)
        results["reap_with_cloud_scan_s"] = round(time.monotonic() - t0, 1)
        for i in range(args.runs):
            print(f"bench: cycle {i + 1}/{args.runs}", file=sys.stderr)
            results["cycles"].append(one_cycle(env, Path(tmp), i, args.ssh_timeout))
            print(f"bench: {json.dumps(results['cycles'][-1])}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
