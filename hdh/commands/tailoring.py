"""`hdh tailoring`: the XCCDF tailoring that judges our hardening on SSG's ANSSI profiles."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ground.errors import ConfigError

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    from hardening.tailoring import DEFAULT_PROFILES

    p = sub.add_parser(
        "tailoring",
        help="write the XCCDF tailoring that judges our hardening",
        description="Render hardening/data/scap_tailoring.yaml as an XCCDF 1.2 tailoring file: "
        "SSG's ANSSI BP-028 profiles with our values and the known-wrong checks unselected. "
        "Use it with `oscap xccdf eval --tailoring-file FILE --profile <tailored id> DS`. "
        "Exit 0: written; 2: bad data or ids (one line per problem, naming file and key).",
    )
    p.add_argument(
        "--profile",
        action="append",
        help=f"base profile (repeatable; default: {', '.join(DEFAULT_PROFILES)})",
    )
    p.add_argument("--datastream", type=Path, help="SSG data stream to check the ids against")
    p.add_argument("--out", type=Path, help="write here (default: standard output)")
    p.add_argument("--list", action="store_true", help="print the changes as JSON instead")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hardening import tailoring

    profiles = tuple(args.profile or tailoring.DEFAULT_PROFILES)
    if args.datastream is not None and not args.datastream.is_file():
        raise ConfigError(str(args.datastream), "", "no such data stream file")
    if args.list:
        sys.stdout.write(json.dumps(tailoring.summary(), indent=1) + "\n")
        return 0
    from hdh.output import check_writable

    check_writable(args.out, "--out")
    text = tailoring.render(profiles, args.datastream)
    if args.out is None:
        sys.stdout.buffer.write(text)
        return 0
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(text)
    except OSError as exc:
        raise ConfigError(str(args.out), "", f"cannot write: {exc.strerror or exc}") from None
    log.info("%s: %s", args.out, ", ".join(tailoring.tailored_id(p) for p in profiles))
    return 0
