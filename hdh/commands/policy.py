"""`hdh policy check`: the policy pack over a stack export, a preview --json or an hdh plan."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from ground.errors import InputError

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "policy",
        help="check deployed stacks, previews or plans against the policy pack",
        description="The policy pack (policies/) outside the engine: same rules, same code.",
    )
    psub = p.add_subparsers(dest="policy_command", required=True, metavar="SUBCOMMAND")
    c = psub.add_parser(
        "check",
        help="evaluate a state file",
        description="Evaluate FILE (`pulumi stack export` v3, `pulumi preview --json` or "
        "`hdh plan --json`, detected from its shape). Exit 0: no mandatory violation; 1: at "
        "least one (or, with --fail-on-undetermined, a mandatory rule that could not decide); "
        "2: unreadable or unrecognised input, bad config or output path.",
    )
    c.add_argument("--state", required=True, metavar="FILE", help="the file to check ('-': stdin)")
    c.add_argument(
        "--format",
        default="text",
        choices=("text", "json", "sarif", "junit", "markdown"),
        help="report format (default: text)",
    )
    c.add_argument("--output", type=Path, metavar="PATH", help="write the report to PATH")
    c.add_argument(
        "--config",
        type=Path,
        metavar="POLICY_CONFIG.json",
        help="policy config: {rule-id: {enforcementLevel, key: value}} or flat schema keys",
    )
    c.add_argument("--rule", action="append", metavar="ID", help="only these rules (repeatable)")
    c.add_argument(
        "--fail-on-undetermined",
        action="store_true",
        help="exit 1 also when a mandatory rule could not decide (a value unknown in a preview)",
    )
    c.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hdh.output import check_writable, write
    from policies.config import read_config
    from policies.pack import RULES
    from policies.reports import renderer
    from policies.run import evaluate, load

    start = time.perf_counter()
    check_writable(args.output, "--output")
    config = read_config(args.config)
    unknown = sorted(set(args.rule or []) - set(RULES))
    if unknown:
        raise InputError(f"no such rule: {', '.join(unknown)}")
    kind, recs = load(args.state)
    log.info("policy: %s: %d resources (%s)", args.state, len(recs), kind)
    result = evaluate(recs, config=config, only=args.rule)
    result.source = kind
    report = renderer(args.format)(result)
    if args.output and str(args.output) != "-":
        write(args.output, report, "--output")
    else:
        sys.stdout.write(report)
    s = result.summary()
    log.info(
        "policy: %d rules, %d mandatory / %d advisory violations in %.2f s",
        s["rules"],
        s["mandatory"],
        s["advisory"],
        time.perf_counter() - start,
    )
    if s["undetermined"]:
        log.info(
            "policy: %d undetermined (%d of mandatory rules): values unknown until deployed%s",
            s["undetermined"],
            s["undeterminedMandatory"],
            "" if args.fail_on_undetermined else " (--fail-on-undetermined makes them fail)",
        )
    if result.mandatory:
        return 1
    return 1 if args.fail_on_undetermined and s["undeterminedMandatory"] else 0
