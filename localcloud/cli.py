"""`hdh cloud up|down|status|env`: the local OpenStack cloud on 127.0.0.1 (test infrastructure)."""

from __future__ import annotations

import argparse
import logging
import shlex
from typing import Any

log = logging.getLogger("localcloud")


def add_parser(sub: Any) -> None:
    from localcloud.cloud import DEFAULT_COMPUTES
    from localcloud.compute import MODES

    p = sub.add_parser(
        "cloud",
        help="the local OpenStack cloud on 127.0.0.1 (test only)",
        description="A real OpenStack (Zed, Debian's packages) on 127.0.0.1 for `pulumi up` and "
        "`destroy` without an account (docs/local-cloud.md). Root only.",
    )
    csub = p.add_subparsers(dest="cloud_command", required=True, metavar="SUBCOMMAND")
    up = csub.add_parser("up", help="install, configure and start the cloud (idempotent)")
    up.add_argument(
        "--computes",
        type=int,
        default=DEFAULT_COMPUTES,
        metavar="N",
        help="fake compute hosts (anti-affinity needs one per server)",
    )
    up.add_argument(
        "--compute",
        choices=MODES,
        help="real: guests boot under libvirt + QEMU (TCG); fake: Nova's fake driver, nothing "
        "boots (default: the mode of the last up, else real)",
    )
    csub.add_parser("down", help="stop every process `up` started")
    csub.add_parser("status", help="the daemons and whether they run (exit 3 if one is stopped)")
    csub.add_parser("env", help="print the OS_* variables in shell form")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from localcloud import cloud

    cmd = args.cloud_command
    if cmd == "up":
        if not 1 <= args.computes <= 8:
            raise cloud.LocalCloudError("up", "--computes must be between 1 and 8")
        mode = args.compute or cloud.recorded_mode()
        if mode == "real" and args.computes != 1:
            raise cloud.LocalCloudError("up", "--computes: the real compute mode has one host")
        env = cloud.up(args.computes, mode=mode)
        print(cloud.clouds_yaml(env))
        _print_env(env)
    elif cmd == "down":
        log.info("stopped %d daemons", cloud.down())
    elif cmd == "status":
        st = cloud.status()
        for name, pid in st.items():
            print(f"{name:24} {'running pid ' + str(pid) if pid else 'stopped'}")
        return 0 if st and all(st.values()) else 3
    else:
        _print_env(cloud.env_vars())
    return 0


def _print_env(env: dict[str, str]) -> None:
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")
