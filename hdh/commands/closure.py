"""`hdh closure`: the closure record of a destroyed bubble, verified against the APIs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ground.errors import InputError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "closure",
        help="record a bubble's keys, volumes and containers, then prove they are gone",
        description="Before destroying a bubble, `prepare` lists what it holds (from a stack "
        "export, plus boot volumes and volume encryption keys from the APIs); after, `verify` "
        "asks each service for each item and records the answer. Exit 0: every item gone "
        "(crypto-shredded); 1: something remains; 2: bad input. Credentials: OS_* or OS_CLOUD.",
    )
    csub = p.add_subparsers(dest="closure_command", required=True, metavar="SUBCOMMAND")
    prep = csub.add_parser("prepare", help="list what a bubble holds, before destroying it")
    prep.add_argument("--state", required=True, type=Path, help="`pulumi stack export` file")
    prep.add_argument("--bubble", required=True, help="bubble name")
    prep.add_argument("--stack", default="", help="stack name, for the record")
    prep.add_argument("--out", required=True, type=Path, help="closure record to write")
    ver = csub.add_parser("verify", help="prove each item is gone, after the destroy")
    ver.add_argument("record", type=Path, help="closure record from `prepare`")
    ver.add_argument("--out", type=Path, help="verified record (default: next to it, .verified)")
    ver.add_argument(
        "--shred-orphaned-keys",
        action="store_true",
        help="delete the LUKS keys that outlived their deleted volumes, then check again",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hdh import closure

    if args.closure_command == "prepare":
        try:
            export = json.loads(args.state.read_text())
        except OSError as exc:
            raise InputError(f"{args.state}: cannot read: {exc.strerror}") from None
        except ValueError as exc:
            raise InputError(f"{args.state}: not JSON: {exc}") from None
        if not isinstance(export, dict):
            raise InputError(f"{args.state}: not a `pulumi stack export` document")
        try:
            closure.from_export(export, args.bubble)  # bad input: exit 2 before any API call
        except InputError as exc:
            raise InputError(f"{args.state}: {exc}") from None
        conn = closure.connect()
        try:
            record = closure.prepare(export, args.bubble, conn, args.stack)
        finally:
            conn.close()
        args.out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"closure: {len(record['items'])} items of bubble {args.bubble} -> {args.out}")
        return 0
    record = closure.read_record(args.record)
    conn = closure.connect(record.get("cloud", {}).get("region") or None)
    try:
        done = closure.verify(record, conn, shred=args.shred_orphaned_keys)
    finally:
        conn.close()
    out = args.out or args.record.with_suffix(".verified.json")
    out.write_text(json.dumps(done, indent=1) + "\n")
    for r in done["results"]:
        mark = "deleted" if r["deleted"] else "ORPHANED" if r.get("orphaned") else "REMAINS"
        print(f"  {mark:<8} {r['kind']:<10} {r['id']}  {r['evidence']}", file=sys.stderr)
    verdict = "COMPLETE" if done["complete"] else "INCOMPLETE"
    print(f"closure {verdict}: bubble {done['bubble']}: {len(done['results'])} items -> {out}")
    if any(r.get("orphaned") and not r["deleted"] for r in done["results"]):
        print(
            "closure: volume keys outlived their deleted volumes: --shred-orphaned-keys deletes "
            "them (crypto-shredding), or ask the provider",
            file=sys.stderr,
        )
    return 0 if done["complete"] else 1
