"""`hdh plan`: the credential-free plan of a stack (summary, tree, JSON)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from components.config import available_stacks
from hdh.plan import Plan, PlannedResource, plan_stack


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="plan a stack offline (mock runtime, no cloud account)",
        description="Run the Pulumi program of a stack under Pulumi's mock runtime, record every "
        "resource it registers, print a summary and optionally write JSON.",
    )
    p.add_argument("--stack", required=True, help=f"stack name ({', '.join(available_stacks())})")
    p.add_argument(
        "--stack-file",
        type=Path,
        metavar="FILE",
        help="read the stack's config from FILE instead of stacks/Pulumi.<stack>.yaml",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="write the plan as JSON ('-': stdout)")
    p.add_argument("--tree", action="store_true", help="print the resource tree")
    p.add_argument(
        "--no-policy", action="store_true", help="do not run the policy pack over the plan"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    step = 500

    def progress(n: int) -> None:
        if n % step == 0:
            print(
                f"plan: {n} resources registered ({time.perf_counter() - start:.1f} s)",
                file=sys.stderr,
            )

    from hdh.output import check_writable, write

    check_writable(args.json, "--json")  # before anything is planned
    print(f"plan: stack {args.stack}: checking config and running the program", file=sys.stderr)
    plan = plan_stack(args.stack, progress=progress, path=args.stack_file)
    print(f"plan: {len(plan.resources)} resources in {plan.seconds:.1f} s", file=sys.stderr)
    out = sys.stdout
    if args.json is not None and str(args.json) == "-":
        json.dump(plan.to_json(), out, indent=1)
        out.write("\n")
        return 0 if args.no_policy else policy_verdict(plan, sys.stderr)
    print(summary(plan), file=out)
    verdict = 0 if args.no_policy else policy_verdict(plan, out)
    if args.tree:
        print(tree(plan.resources), file=out)
    if args.json is not None:
        write(args.json, json.dumps(plan.to_json(), indent=1) + "\n", "--json")
        print(f"plan: wrote {args.json}", file=sys.stderr)
    return verdict


def policy_verdict(plan: Plan, out: Any) -> int:
    """Run the policy pack over the plan (docs/policies.md); 1 on a mandatory violation."""
    from policies.reports.text import render
    from policies.run import evaluate

    result = evaluate(plan)
    print(f"\nPolicy pack:\n{render(result)}", end="", file=out)
    return 1 if result.mandatory else 0


def summary(plan: Plan) -> str:
    custom = [r for r in plan.resources if r.custom]
    lines = [
        f"Stack {plan.stack}: profile {plan.profile}, region {plan.region}",
        f"{len(custom)} cloud resources ({len(plan.resources) - len(custom)} components)",
        "",
        "By tier:",
    ]
    lines += [f"  {tier:<12} {n:>6}" for tier, n in sorted(plan.by_tier().items())]
    lines += ["", "By type:"]
    lines += [f"  {t:<62} {n:>6}" for t, n in sorted(plan.by_type().items()) if "::" not in t]
    outs = plan.outputs
    if "bubbles" in outs:
        lines += ["", f"Bubbles: {len(outs['bubbles'])}"]
    return "\n".join(lines)


def tree(resources: list[PlannedResource]) -> str:
    children: dict[str, list[PlannedResource]] = {}
    urns = {r.urn for r in resources}
    roots: list[PlannedResource] = []
    for r in resources:
        if r.parent in urns:
            children.setdefault(r.parent, []).append(r)
        else:
            roots.append(r)
    lines: list[str] = []

    def walk(r: PlannedResource, depth: int) -> None:
        lines.append(f"{'  ' * depth}{r.type} {r.name}")
        for c in children.get(r.urn, []):
            walk(c, depth + 1)

    for r in roots:
        walk(r, 0)
    return "\n".join(lines)
