"""docs/policies.md's generated tables: rules from RULE metadata, config from the pack's schema,
the classification of every OpenStack type from policies/types.yaml.

hdh docs      # rewrite them in place (hdh docs --check: only check)
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from ground.paths import ROOT
from policies.classification import classification
from policies.config import DESCRIPTIONS, defaults
from policies.controls import CONTROLS
from policies.pack import rules

DOC = ROOT / "docs" / "policies.md"


def rules_table() -> str:
    rows = [
        "| rule | enforcement | severity | checks | resource types | controls |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(rules(), key=lambda r: (r.enforcement != "mandatory", r.id)):
        types = ", ".join(f"`{t}`" for t in r.resource_types)
        if r.reads:
            types += "; reads " + ", ".join(f"`{t}`" for t in r.reads)
        scope = " (stack-level)" if r.scope == "stack" else ""
        controls = "; ".join(f"{CONTROLS[c].framework}: {CONTROLS[c].title}" for c in r.frameworks)
        rows.append(
            f'| <a id="{r.id}"></a>`{r.id}` | {r.enforcement} | {r.severity} | '
            f"{r.title}{scope}. Fix: {r.remediation} | {types} | {controls} |"
        )
    return "\n".join(rows)


def config_table() -> str:
    rows = ["| key | default (from the profiles) | used by | description |", "|---|---|---|---|"]
    users: dict[str, list[str]] = {}
    for r in rules():
        for key in r.config:
            users.setdefault(key, []).append(r.id)
    d = defaults()
    for key, (_, desc) in DESCRIPTIONS.items():
        used = ", ".join(f"`{u}`" for u in sorted(users.get(key, [])))
        rows.append(f"| `{key}` | `{json.dumps(d[key])}` | {used} | {desc} |")
    return "\n".join(rows)


def types_table() -> str:
    rows = ["| type | verdict | rules | why |", "|---|---|---|---|"]
    universal = {"resource-region-eu", "resource-type-refused", "classification-tag"}
    for typ, v in sorted(classification().items()):
        ids = sorted(
            r.id
            for r in rules()
            if (r.applies(typ) or typ in r.reads) and (r.id not in universal or typ in r.reads)
        )
        if v.verdict == "refused":
            ids = ["resource-type-refused", *ids]
        verdict = f"judged: {', '.join(v.aspects)}" if v.verdict == "judged" else v.verdict
        shown = ", ".join(f"[`{i}`](#{i})" for i in ids) if ids else ""
        rows.append(f"| `{typ}` | {verdict} | {shown} | {v.why.replace('|', '/')} |")
    return "\n".join(rows)


TABLES = {"rules": rules_table, "config": config_table, "types": types_table}


def render(text: str) -> str:
    for name, make in TABLES.items():
        begin, end = f"<!-- {name}-table:begin -->", f"<!-- {name}-table:end -->"
        pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
        block = f"{begin}\n{make()}\n{end}"
        text = pattern.sub(_constant(block), text)
    return text


def _constant(block: str) -> Callable[[re.Match[str]], str]:
    def replace(_match: re.Match[str]) -> str:
        return block  # a function, so backslashes in the table are not read as escapes

    return replace
