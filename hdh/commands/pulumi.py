"""`hdh pulumi -- ARGS`: the real engine with the project's sovereign defaults."""

from __future__ import annotations

import argparse
import subprocess
from typing import Any

from ground.paths import ROOT
from hdh.engine import environment


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "pulumi",
        help="run pulumi with sovereign defaults (self-hosted state, no Pulumi Cloud)",
        description="Run the project's Pulumi engine in the repository with a self-hosted "
        "backend (HDH_BACKEND_URL or PULUMI_BACKEND_URL, default file://.state), the "
        "passphrase secrets provider, and no update check or plugin download. "
        "Example: hdh pulumi -- preview --stack ovh-gra --policy-pack policies",
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for pulumi (after --)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    argv = [a for a in args.args if a != "--"] if args.args[:1] == ["--"] else args.args
    return subprocess.run(["pulumi", *argv], cwd=ROOT, env=environment(), check=False).returncode
