"""`scripts/testbed`: build the image, bring hosts up or down, scan one with OpenSCAP."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from ground.errors import HdhError
from testbed import hosts, image, scap, state


class _Elapsed(logging.Formatter):
    """One progress line per phase on stderr, prefixed with the seconds since start."""

    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.monotonic() - self.t0:6.1f} s] {record.getMessage()}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/testbed", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="bring up containers c1..cN and the VM (idempotent)")
    up.add_argument("--containers", type=_count, default=1, metavar="N")
    up.add_argument("--vm", action="store_true", help="also boot the QEMU VM (~1 min)")
    sub.add_parser("down", help="stop every host the testbed started and remove its traces")
    sub.add_parser("status", help="hosts in the state and whether they run")
    sub.add_parser("image", help="build (or find cached) the image and print its path")
    sc = sub.add_parser("scan", help="OpenSCAP scan of one host that is up")
    sc.add_argument("host", help="host name, e.g. hdh-tb-c1 or hdh-tb-vm")
    sc.add_argument(
        "--profile",
        default="anssi_bp28_intermediary",
        help="SSG profile; add _hdh for our tailored one (hardening/data/scap_tailoring.yaml)",
    )
    return p


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 0 and 64, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Elapsed())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    try:
        return _run(args)
    except HdhError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.command == "up":
        _print_hosts(hosts.up(args.containers, args.vm))
    elif args.command == "down":
        names = hosts.down()
        print(f"down: {', '.join(names) if names else 'nothing was up'}")
    elif args.command == "status":
        rows = hosts.status()
        for h, running in rows:
            print(f"{h.name:12} {h.kind:9} 127.0.0.1:{h.port:<6} {'up' if running else 'DEAD'}")
        if rows:
            _print_files()
    elif args.command == "image":
        print(image.ensure_image().path)
    elif args.command == "scan":
        target = next((h for h, _ in hosts.status() if h.name == args.host), None)
        if target is None:
            raise HdhError(f"{args.host}: scan: no such host up (see `scripts/testbed status`)")
        result = scap.scan(target, args.profile)
        print(result.summary())
        print(f"results: {result.arf}")
    return 0


def _print_hosts(up: list[state.TestHost]) -> None:
    for h in up:
        print(f"{h.name:12} {h.kind:9} ssh -p {h.port} {h.user}@{h.host} -i {h.key_path}")
    _print_files()


def _print_files() -> None:
    print(f"inventory:  {state.inventory_path()}")
    print(f"ssh config: {state.ssh_config_path()}")


if __name__ == "__main__":
    sys.exit(main())
