"""`hdh env cycle|up|verify|down|list|reap`: throwaway environments for CI and for people."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Throwaway copies of a committed stack, named tw-<base>-<id>, tagged with their expiry on the "
    "state backend and on every taggable cloud resource. State stays self-hosted (file:// or "
    "s3://, HDH_BACKEND_URL / PULUMI_BACKEND_URL) with the passphrase secrets provider "
    "(PULUMI_CONFIG_PASSPHRASE); cloud credentials from OS_* or OS_CLOUD. Exit 0: passed, "
    "1: a phase failed, 2: bad input, 130/143: interrupted (teardown ran). docs/ci.md"
)


def _common(p: argparse.ArgumentParser, reports: bool = True) -> None:
    p.add_argument("--json", type=Path, metavar="FILE", help="write the JSON summary here")
    p.add_argument("--junit", type=Path, metavar="FILE.xml", help="write JUnit XML here")
    if reports:
        p.add_argument(
            "--reports",
            type=Path,
            metavar="DIR",
            help="policy reports (JSON, SARIF, JUnit, Markdown), hardening and check results",
        )


def _create(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="base", required=True, metavar="STACK", help="base stack")
    p.add_argument("--ttl", default="4h", help="lifetime before the reaper may take it (4h)")
    p.add_argument("--id", dest="ident", metavar="ID", help="name suffix (default: time+random)")
    p.add_argument(
        "--keep-on-failure",
        action="store_true",
        help="keep a failed environment for inspection (until its expiry)",
    )


def _hosts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ssh-key",
        type=Path,
        metavar="KEY",
        help="deploy user's private key (default: a fresh key per environment)",
    )
    p.add_argument(
        "--ssh-timeout",
        type=float,
        default=None,
        metavar="S",
        help="seconds for every host to answer SSH through the bastion "
        "(default $HDH_SSH_TIMEOUT or 900)",
    )
    p.add_argument(
        "--bastion",
        metavar="HOST:PORT",
        help="reach the bastion here (a port forward, a VPN endpoint) instead of its public "
        "address; every other host is reached through it",
    )
    p.add_argument(
        "--step-timeout",
        type=float,
        default=3600.0,
        metavar="S",
        help="seconds for hardening, and for the checks (3600)",
    )


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "env",
        help="throwaway environments: cycle, up, verify, down, list, reap",
        description=DESCRIPTION,
    )
    esub = p.add_subparsers(dest="env_command", required=True, metavar="VERB")
    c = esub.add_parser(
        "cycle",
        help="up -> policy -> ssh -> harden -> verify -> destroy, torn down whatever happens",
        description="The whole cycle on a new throwaway stack; destroy and removal always run "
        "(also on SIGINT/SIGTERM) unless --keep-on-failure keeps a failed one.",
    )
    _create(c)
    _hosts(c)
    _common(c)
    u = esub.add_parser("up", help="create and deploy an environment that stays until `down`")
    _create(u)
    u.add_argument("--ssh-key", type=Path, metavar="KEY", help="deploy user's private key")
    _common(u, reports=False)
    v = esub.add_parser("verify", help="policy, SSH, hardening and checks of an environment")
    v.add_argument("stack", help="tw-<base>-<id>")
    v.add_argument("--no-harden", action="store_true", help="check without hardening first")
    _hosts(v)
    _common(v)
    d = esub.add_parser("down", help="destroy and remove an environment (gone already: exit 0)")
    d.add_argument("stack", help="tw-<base>-<id>")
    _common(d, reports=False)
    ls = esub.add_parser("list", help="stacks on the backend: throwaway or not, expiry")
    ls.add_argument("--json", action="store_true", help="JSON on stdout")
    r = esub.add_parser(
        "reap",
        help="destroy expired throwaway stacks; delete expired orphaned cloud resources",
        description="Never touches a stack that is not a throwaway one (name, tags, expiry). "
        "Exit 0: done (or nothing to do), 1: something could not be removed (kept for the next "
        "run), 2: bad input.",
    )
    r.add_argument("--dry-run", action="store_true", help="say what would go, touch nothing")
    r.add_argument("--no-orphans", action="store_true", help="stacks only, no cloud scan")
    r.add_argument("--json", type=Path, metavar="FILE", help="write what was done here")
    p.set_defaults(run=run)


def _options(args: argparse.Namespace) -> Any:
    from ground.errors import InputError
    from hdh.throwaway.cycle import Options
    from hdh.throwaway.names import parse_ttl

    opts = Options(json=args.json, junit=getattr(args, "junit", None))
    opts.reports = getattr(args, "reports", None)
    if hasattr(args, "base"):
        opts.base, opts.ident = args.base, args.ident
        opts.ttl = parse_ttl(args.ttl)
        opts.keep_on_failure = args.keep_on_failure
    key = getattr(args, "ssh_key", None)
    if key is not None and not key.is_file():
        raise InputError(f"--ssh-key {key}: no such file")
    opts.ssh_key = key.resolve() if key else None
    if hasattr(args, "ssh_timeout") and args.ssh_timeout is None:
        text = os.environ.get("HDH_SSH_TIMEOUT") or "900"
        try:
            args.ssh_timeout = float(text)
        except ValueError:
            raise InputError(f"HDH_SSH_TIMEOUT={text!r}: not a number of seconds") from None
    for flag in ("ssh_timeout", "step_timeout"):
        value = getattr(args, flag, None)
        if value is not None:
            if not 1 <= value <= 86400:
                raise InputError(f"--{flag.replace('_', '-')} {value:g}: between 1 and 86400 s")
            setattr(opts, flag, value)
    opts.harden = not getattr(args, "no_harden", False)
    if getattr(args, "bastion", None):
        opts.bastion = parse_endpoint(args.bastion)
    for path in (opts.json, opts.junit, opts.reports):
        if path is not None and path.exists() and path.is_dir() != (path is opts.reports):
            raise InputError(
                f"{path}: exists and is {'not ' if path is opts.reports else ''}a directory"
            )
    return opts


def parse_endpoint(text: str) -> tuple[str, int]:
    """'HOST:PORT' (a DNS name or an IPv4 address; [IPv6]:PORT) -> (host, port)."""
    import re

    from ground.errors import InputError

    m = re.fullmatch(
        r"\[([0-9a-fA-F:]+)\]:([0-9]{1,5})|([A-Za-z0-9][A-Za-z0-9.-]{0,252}):([0-9]{1,5})", text
    )
    port = int((m.group(2) or m.group(4)) if m else 0)
    if not m or not 1 <= port <= 65535:
        raise InputError(f"--bastion {text!r}: give HOST:PORT (a name or address, a port 1-65535)")
    return (m.group(1) or m.group(3), port)


def run(args: argparse.Namespace) -> int:
    from hdh.throwaway import verbs

    cmd = args.env_command
    if cmd == "list":
        return _list(args, verbs.listing())
    if cmd == "reap":
        return _reap(args)
    opts = _options(args)
    if cmd == "cycle":
        report = verbs.cycle(opts)
    elif cmd == "up":
        report = verbs.up(opts)
    elif cmd == "verify":
        report = verbs.verify(args.stack, opts)
    else:
        report = verbs.down(args.stack, opts)
    for line in report.summary_lines():
        print(line, file=sys.stderr)
    if cmd == "up" and report.kept:
        print(report.stack)  # for scripts: NAME=$(hdh env up --from local)
    return report.exit_code


def _list(args: argparse.Namespace, rows: list[dict[str, Any]]) -> int:
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        kind = "throwaway" if r["throwaway"] else "permanent"
        print(
            f"{r['stack']:36} {kind:9} {r['resources'] or 0:5} resources  {r['state']}  "
            f"{r['owner']}".rstrip()
        )
    return 0


def _reap(args: argparse.Namespace) -> int:
    from hdh.throwaway.reaper import reap
    from hdh.throwaway.workspace import backend

    done = reap(backend(), dry_run=args.dry_run, with_orphans=not args.no_orphans)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(done.to_json(), indent=1) + "\n")
    for row in [*done.stacks, *done.orphans]:
        what = (
            row.get("stack")
            if "kind" not in row
            else f"{row['kind']} {row['name']} ({row['stack']})"
        )
        print(f"{row['action']:14} {what}  {row.get('why') or row.get('error') or ''}".rstrip())
    if done.skipped:
        print(f"skipped: {done.skipped}")
    return 1 if done.failed else 0
