"""`hdh docs [--check]`: every generated section of the docs, rewritten or checked.

README.md's config table (from Pulumi.yaml's schema), docs/policies.md's rule and config tables
(from the rules' metadata and the pack's schema) and hardening/COVERAGE.md (from the hardening
data and checks).
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ground.paths import ROOT

log = logging.getLogger(__name__)

BEGIN, END = "<!-- config-table:begin -->", "<!-- config-table:end -->"


def config_table() -> str:
    doc = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for key, spec in doc["config"].items():
        kind = spec.get("type", "object")
        if kind == "array":
            kind = f"array of {spec.get('items', {}).get('type', '?')}"
        default = "(required)" if "default" not in spec else f"`{json_like(spec['default'])}`"
        desc = spec.get("description", "").replace("|", "\\|")
        rows.append(f"| `hdh:{key}` | {kind} | {default} | {desc} |")
    return "\n".join(rows)


def json_like(value: object) -> str:
    if value == "":
        return '""'
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def render_readme(text: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    return pattern.sub(f"{BEGIN}\n{config_table()}\n{END}", text)


def _targets() -> dict[Path, Callable[[str], str]]:
    """Each generated file and the function that renders it from its current text."""
    from hardening import coverage
    from policies import docs as policy_docs

    return {
        ROOT / "README.md": render_readme,
        policy_docs.DOC: policy_docs.render,
        coverage.TARGET: lambda _text: coverage.render(),
    }


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "docs",
        help="regenerate the generated docs (config table, rules, coverage)",
        description="Rewrite the generated sections of README.md, docs/policies.md and "
        "hardening/COVERAGE.md. With --check, change nothing and exit 1 if one is out of date.",
    )
    p.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stale = []
    for path, render in _targets().items():
        text = path.read_text() if path.exists() else ""
        new = render(text)
        if new == text:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.write_text(new)
            log.info("docs: updated %s", path.relative_to(ROOT))
    if args.check and stale:
        log.error("docs: out of date: %s (run: hdh docs)", ", ".join(map(str, stale)))
        return 1
    return 0
