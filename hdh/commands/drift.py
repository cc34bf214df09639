"""`hdh drift`: is the deployed stack still what was applied and approved?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ground.names import DEPLOY_USER
from hdh.drift import HISTORY_DIR

PHASES = ("refresh", "preview", "policy", "hardening")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "drift",
        help="detect drift of a deployed stack (cloud, program, policy, hardening)",
        description="Refresh (preview only: the state is not touched) and preview the deployed "
        "stack expecting no change, re-run the policy pack on a fresh `pulumi stack export`, "
        "run the hardening checks on the stack's reachable hosts (with --ssh-key), and append "
        "one dated JSON record to the history. Exit 0: no drift; 1: drift; 2: error.",
    )
    p.add_argument("--stack", required=True, help="the deployed stack")
    p.add_argument(
        "--history",
        type=Path,
        metavar="FILE",
        help=f"JSON-lines history to append to (default {HISTORY_DIR.name}/<stack>.jsonl "
        "under .state)",
    )
    p.add_argument("--ssh-key", metavar="FILE", help="deploy key for the hardening checks")
    p.add_argument(
        "--user",
        help=f"SSH user of the hosts (default: the inventory's deploy user, else {DEPLOY_USER})",
    )
    p.add_argument("--known-hosts", metavar="FILE", help="known_hosts for the hosts' keys")
    p.add_argument(
        "--accept-new-host-keys",
        action="store_true",
        help="trust host keys seen for the first time (default: strict checking)",
    )
    p.add_argument("--report-dir", type=Path, metavar="DIR", help="keep the hosts' reports here")
    p.add_argument("--config", type=Path, metavar="POLICY_CONFIG.json", help="policy config")
    p.add_argument(
        "--only", action="append", choices=PHASES, metavar="PHASE", help="only these phases"
    )
    p.add_argument("--json", action="store_true", help="print the record as JSON on stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from components.config import load_stack
    from hdh.drift import detect, engine_runner
    from policies.config import read_config

    load_stack(args.stack)
    config = read_config(args.config)
    history = args.history or HISTORY_DIR / f"{args.stack}.jsonl"
    record = detect(
        args.stack,
        engine_runner(args.stack),
        history=history,
        policy_config=config,
        ssh_key=args.ssh_key,
        user=args.user,
        report_dir=args.report_dir,
        known_hosts=args.known_hosts,
        accept_new_host_keys=args.accept_new_host_keys,
        phases=args.only or PHASES,
    )
    if args.json:
        json.dump(record, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(summary(record))
    return 1 if record["drift"] else 0


def summary(record: dict[str, Any]) -> str:
    lines = [f"drift: stack {record['stack']} at {record['started']}"]
    for name, phase in record["phases"].items():
        lines.append(f"  {name:<10} {phase['status']}")
        for c in phase.get("changes", []):
            lines.append(
                f"      {c['op']:<10} {c['urn']}" + (f" ({c['diff']})" if c["diff"] else "")
            )
        for f in phase.get("mandatory", []):
            lines.append(f"      {f['rule']}: {f['urn']}: {f['message']}")
        for u in phase.get("unreachable", []):
            lines.append(f"      unreachable: {u['host']}: {u['why']}")
        if phase.get("reason"):
            lines.append(f"      {phase['reason']}")
    lines.append("DRIFT" if record["drift"] else "NO DRIFT")
    return "\n".join(lines)
