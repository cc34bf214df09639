"""`hdh evidence`: the evidence bundle of a stack for auditors, and its offline verification."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from ground.errors import InputError

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "evidence",
        help="gather a stack's evidence bundle for auditors, or verify one offline",
        description="Write DIR with the policy report (every format), the hardening coverage, "
        "the hosts' testinfra and OpenSCAP results when given, the control matrix (requirement "
        "-> control -> rule/operation -> test -> result), closure records, and MANIFEST.sha256 "
        "(sha256sum format). The state is a file (--state), the credential-free plan (--plan) or "
        "a fresh `pulumi stack export` (default). --verify DIR checks a bundle: exit 0 intact, "
        "1 tampered (each problem on one line), 2 not a bundle.",
    )
    p.add_argument("--stack", help="stack name (required to build)")
    p.add_argument("--out", type=Path, metavar="DIR", help="new or empty directory for the bundle")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--state", type=Path, metavar="FILE", help="stack export / preview / plan")
    src.add_argument("--plan", action="store_true", help="use the credential-free plan")
    p.add_argument(
        "--host-report",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="testinfra control report (report.json or its directory; repeatable)",
    )
    p.add_argument(
        "--scap",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="OpenSCAP ARF/XCCDF results of a host (repeatable)",
    )
    p.add_argument(
        "--closure", type=Path, action="append", default=[], metavar="FILE", help="closure record"
    )
    p.add_argument("--config", type=Path, metavar="POLICY_CONFIG.json", help="policy config")
    p.add_argument("--waivers", type=Path, metavar="FILE", help="waivers applied to the report")
    p.add_argument("--verify", type=Path, metavar="DIR", help="verify a bundle instead")
    p.add_argument(
        "--expect-digest",
        metavar="SHA256",
        help="with --verify: the manifest's SHA-256 recorded at hand-over",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hdh import manifest

    if args.verify is not None:
        if args.stack or args.out:
            raise InputError("--verify takes only a bundle directory (and --expect-digest)")
        v = manifest.verify(args.verify, args.expect_digest)
        for problem in v.problems:
            print(f"{args.verify}: {problem}", file=sys.stderr)
        verdict = "VERIFIED" if v.ok else "TAMPERED"
        print(f"{verdict}: {args.verify}: {v.checked} files checked, manifest SHA-256 {v.digest}")
        return 0 if v.ok else 1
    if not args.stack or not args.out:
        raise InputError("--stack and --out are required to build a bundle (or --verify DIR)")
    from components.config import load_stack
    from hdh.evidence import Inputs, build
    from policies.config import read_config

    load_stack(args.stack)  # a bad stack file: one line per problem, exit 2, nothing written
    inputs = Inputs(
        stack=args.stack,
        state=args.state,
        plan=args.plan,
        export=args.state is None and not args.plan,
        host_reports=args.host_report,
        scap_results=args.scap,
        closures=args.closure,
        policy_config=read_config(args.config),
        waivers=args.waivers,
    )
    bundle = build(inputs, args.out)
    log.info("evidence: %d files in %s", bundle.files, bundle.path)
    print(f"evidence: {bundle.path}: {bundle.files} files, manifest SHA-256 {bundle.digest}")
    return 0
