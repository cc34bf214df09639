"""Local cloud benchmark: `up` cold and warm, memory, pulumi up/destroy, real guests' boot times.

    uv run python -m benchmarks.local_cloud [--cold] [--compute real|fake] [--bubbles 1,10,50]
                                            [--guests]

Cold wipes the state directory first (packages stay installed: their install time is reported by
`up` as the `packages` phase on a fresh machine; the guest image cache is kept); warm is `down`
then `up` on the kept state. Memory is summed over every process in the daemons' process groups
(RSS and PSS). `--guests` (real compute) deploys the `local` stack once on real guests: `pulumi
up`/`destroy`, per instance the time to ACTIVE (Nova's created -> launched) and from launch to
SSH through the bastion, the memory of each guest's QEMU and of the cloud with them. Root only.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from hdh.engine import ThrowawayProject
from localcloud import access, cloud, compute, daemons
from localcloud.deployment import LocalDeployment
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


def guests(env: dict[str, str]) -> dict[str, object]:
    """The `local` stack on real guests: up, SSH on every host, memory, destroy."""
    with tempfile.TemporaryDirectory() as tmp:
        dep = LocalDeployment(Path(tmp), env=env)
        print("real guests: pulumi up and SSH ...", file=sys.stderr)
        try:
            dep.up()
            qemu = access.qemu_processes()
            per_guest = {name: access.memory_mib(pid) for name, pid in qemu.items()}
            cloud_mem = cloud_memory_mib()
            out: dict[str, object] = {
                **dep.timings,
                "guest_memory_mib": per_guest,
                "cloud_memory_mib": cloud_mem,
                "cloud_and_guests_pss_mib": cloud_mem["pss_mib"]
                + sum(m["pss_mib"] for m in per_guest.values()),
            }
        finally:
            dep.destroy()
        out["pulumi_destroy_s"] = dep.timings["pulumi_destroy_s"]
        print(f"real guests: {json.dumps(out)}", file=sys.stderr)
        return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cold", action="store_true", help="wipe the state directory first")
    p.add_argument("--bubbles", default="", help="comma-separated bubble counts, e.g. 1,10,50")
    p.add_argument("--compute", choices=compute.MODES, default=compute.DEFAULT_MODE)
    p.add_argument("--guests", action="store_true", help="deploy the local stack on real guests")
    args = p.parse_args()
    if args.guests and args.compute != "real":
        p.error("--guests needs --compute real")
    if args.bubbles and args.compute != "fake":
        p.error("--bubbles measures the APIs at scale (up to 50 servers): use --compute fake")
    result: dict[str, object] = {"compute": args.compute}
    cloud.down()
    up = functools.partial(cloud.up, mode=args.compute)
    if args.cold:
        shutil.rmtree(state_dir(), ignore_errors=True)
        result["cold_up_s"] = timed(up)
        cloud.down()
    result["warm_up_s"] = timed(up)
    result["again_up_s"] = timed(up)  # already up: nothing to do
    result["daemons"] = len(daemons.running(Layout(state_dir())))
    result.update(cloud_memory_mib())
    if args.bubbles:
        env = cloud.env_vars()
        for n in (int(x) for x in args.bubbles.split(",")):
            result[f"pulumi_{n}_bubbles"] = pulumi_times(n, env)
    if args.guests:
        result["real_guests"] = guests(cloud.env_vars())
    result["down_s"] = timed(cloud.down)
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
