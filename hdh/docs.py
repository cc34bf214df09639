"""Generated documentation: the README's config table comes from Pulumi.yaml's schema."""

from __future__ import annotations

import re
import sys

import yaml

from ground.paths import ROOT

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


def main() -> int:
    """Rewrite the README's generated sections in place."""
    path = ROOT / "README.md"
    path.write_text(render_readme(path.read_text()))
    print(f"updated {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
