"""`scripts/local-cloud up|down|status|env`: the local OpenStack cloud on 127.0.0.1."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Sequence

from ground.errors import HdhError
from localcloud import cloud


class _Elapsed(logging.Formatter):
    """One progress line per phase on stderr, prefixed with the seconds since start."""

    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.monotonic() - self.t0:6.1f} s] {record.getMessage()}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/local-cloud", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="install, configure and start the cloud (idempotent)")
    up.add_argument(
        "--computes",
        type=int,
        default=cloud.DEFAULT_COMPUTES,
        metavar="N",
        help="fake compute hosts (anti-affinity needs one per server)",
    )
    sub.add_parser("down", help="stop every process `up` started")
    sub.add_parser("status", help="the daemons and whether they run")
    sub.add_parser("env", help="print the OS_* variables in shell form")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Elapsed())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    log = logging.getLogger("localcloud")
    try:
        if args.command == "up":
            if not 1 <= args.computes <= 8:
                raise cloud.LocalCloudError("up", "--computes must be between 1 and 8")
            env = cloud.up(args.computes)
            print(cloud.clouds_yaml(env))
            _print_env(env)
        elif args.command == "down":
            log.info("stopped %d daemons", cloud.down())
        elif args.command == "status":
            st = cloud.status()
            for name, pid in st.items():
                print(f"{name:24} {'running pid ' + str(pid) if pid else 'stopped'}")
            return 0 if st and all(st.values()) else 3
        else:
            _print_env(cloud.env_vars())
    except HdhError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exc.exit_code
    return 0


def _print_env(env: dict[str, str]) -> None:
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")


if __name__ == "__main__":
    sys.exit(main())
