"""`hdh`: the command line of the platform (plan, policy, harden, cloud, ...)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ground.errors import HdhError

# Each command lives in its own module exposing add_parser(subparsers) and run(args) -> int.
# A module that is not there yet (a capability still being built) is simply not offered.
COMMANDS = (
    "hdh.commands.plan",
    "hdh.commands.policy",
    "hdh.commands.pulumi",
    "hdh.harden",
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hdh", description="Sovereign health-data hub platform: plan, police, harden."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
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
