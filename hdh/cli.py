"""`hdh`: the one front door of the platform; every command a person runs is a subcommand.

Each command lives in a module exposing `add_parser(subparsers)` and `run(args) -> int`. Only the
module of the command being run is imported: `hdh --help` lists every command from the table
below without importing any of them, so it starts as fast as Python does.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
import time
from collections.abc import Sequence
from typing import NamedTuple

from ground.errors import HdhError


class Command(NamedTuple):
    module: str
    help: str


COMMANDS: dict[str, Command] = {
    "plan": Command("hdh.commands.plan", "plan a stack offline (mock runtime, no cloud account)"),
    "policy": Command(
        "hdh.commands.policy", "check deployed stacks, previews or plans against the policy pack"
    ),
    "pulumi": Command(
        "hdh.commands.pulumi", "run pulumi with sovereign defaults (self-hosted state)"
    ),
    "drift": Command(
        "hdh.commands.drift", "detect drift of a deployed stack (cloud, program, policy, hosts)"
    ),
    "evidence": Command(
        "hdh.commands.evidence", "gather a stack's evidence bundle for auditors, or verify one"
    ),
    "closure": Command(
        "hdh.commands.closure", "prove a destroyed bubble's keys, volumes, containers are gone"
    ),
    "harden": Command("hdh.commands.harden", "harden hosts after ANSSI BP-028 (pyinfra)"),
    "backup": Command("hdh.commands.backup", "volume backups: run the job now, restore drill"),
    "k8s": Command("hdh.commands.k8s", "Kubernetes manifests of a stack's baseline"),
    "tailoring": Command(
        "hdh.commands.tailoring", "write the XCCDF tailoring that judges our hardening"
    ),
    "env": Command(
        "hdh.commands.env", "throwaway environments: cycle, up, verify, down, list, reap"
    ),
    "docs": Command(
        "hdh.commands.docs", "regenerate the generated docs (config table, rules, coverage)"
    ),
    # Test infrastructure: rooms of their own, absent from the wheel (then not offered).
    "testbed": Command("testbed.cli", "Debian 12 test hosts: containers and a VM (test only)"),
    "cloud": Command("localcloud.cli", "the local OpenStack cloud on 127.0.0.1 (test only)"),
}


class _Elapsed(logging.Formatter):
    """Progress on stderr: one line per phase, prefixed with the seconds since start."""

    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.monotonic() - self.t0:6.1f} s] {record.getMessage()}"


def _available(cmd: Command) -> bool:
    top = cmd.module.split(".", 1)[0]
    return top == "hdh" or importlib.util.find_spec(top) is not None


def _global_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    p.add_argument(
        "--progress",
        choices=("plain", "elapsed"),
        default="elapsed",
        help="progress lines on stderr: with the seconds since start (default) or plain",
    )
    return p


def _chosen(argv: Sequence[str]) -> str | None:
    """The command word: the first argument after the global options."""
    _, rest = _global_options(argparse.ArgumentParser(add_help=False)).parse_known_args(argv)
    return rest[0] if rest and not rest[0].startswith("-") else None


def parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; only `chosen`'s module is imported, the others are listed by name."""
    p = argparse.ArgumentParser(
        prog="hdh",
        description="Sovereign health-data hub platform: plan, police, harden, test.",
    )
    _global_options(p)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, cmd in COMMANDS.items():
        if name == chosen and _available(cmd):
            importlib.import_module(cmd.module).add_parser(sub)
        elif _available(cmd):
            sub.add_parser(name, help=cmd.help, add_help=False)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser(_chosen(argv)).parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    # Set here: basicConfig would give a bare handler its "LEVEL:logger:" format.
    handler.setFormatter(_Elapsed() if args.progress == "elapsed" else logging.Formatter())
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler], force=True
    )
    try:
        return int(args.run(args))
    except HdhError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
