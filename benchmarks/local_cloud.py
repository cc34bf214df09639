"""Local cloud benchmark: `up` cold and warm, memory of the whole cloud, pulumi up/destroy times.

    uv run python -m benchmarks.local_cloud [--cold] [--bubbles 1,10,50]

Cold wipes the state directory first (packages stay installed: their install time is reported by
`up` as the `packages` phase on a fresh machine); warm is `down` then `up` on the kept state.
Memory is summed over every process in the daemons' process groups (RSS and PSS). Root only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from hdh.engine import ThrowawayProject
from localcloud import cloud, daemons
from localcloud.paths import Layout, state_dir


def cloud_memory_mib() -> dict[str, int]:
    """Summed RSS and PSS (MiB) of every process in the recorded daemons' process groups.

    RSS counts shared library pages once per process; PSS splits them, so it is the real total.
    """
    groups = set(daemons.running(Layout(state_dir())).values())
    rss = pss = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) not in groups:
                continue
            rss += int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
            for line in (p / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (OSError, IndexError):
            continue
    return {"rss_mib": rss // 1024, "pss_mib": pss // 1024}


def timed(fn: object, *args: object) -> float:
    t0 = time.monotonic()
    fn(*args)  # type: ignore[operator]
    return round(time.monotonic() - t0, 1)


def pulumi_times(bubbles: int, env: dict[str, str]) -> dict[str, float]:
    """`pulumi up` then `destroy` of the local stack with `bubbles` bubbles, in a scratch copy."""
    with tempfile.TemporaryDirectory() as tmp:
        config = {
            "hdh:bubbles": [
                {"name": f"b{i:02d}", "workspaces": 1, "volumeSize": 1} for i in range(bubbles)
            ]
        }
        project = ThrowawayProject(Path(tmp), "local", config, passphrase="bench", env=env)
        print(f"{bubbles} bubble(s): pulumi up ...", file=sys.stderr)
        try:
            up = timed(project.run, "up", "--yes", "--skip-preview")
        finally:
            destroy = timed(project.run, "destroy", "--yes", "--skip-preview")
        print(f"{bubbles} bubble(s): up {up} s, destroy {destroy} s", file=sys.stderr)
        return {"up_s": up, "destroy_s": destroy}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cold", action="store_true", help="wipe the state directory first")
    p.add_argument("--bubbles", default="", help="comma-separated bubble counts, e.g. 1,10,50")
    args = p.parse_args()
    result: dict[str, object] = {}
    cloud.down()
    if args.cold:
        shutil.rmtree(state_dir(), ignore_errors=True)
        result["cold_up_s"] = timed(cloud.up)
        cloud.down()
    result["warm_up_s"] = timed(cloud.up)
    result["again_up_s"] = timed(cloud.up)  # already up: nothing to do
    result["daemons"] = len(daemons.running(Layout(state_dir())))
    result.update(cloud_memory_mib())
    if args.bubbles:
        env = cloud.env_vars()
        for n in (int(x) for x in args.bubbles.split(",")):
            result[f"pulumi_{n}_bubbles"] = pulumi_times(n, env)
    result["down_s"] = timed(cloud.down)
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
