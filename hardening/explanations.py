"""Why an SSG rule may still fail on a hardened host: data/scap_explanations.yaml, checked."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hardening import data

FILE = "scap_explanations"
PATH = f"hardening/data/{FILE}.yaml"
KINDS = ("container", "vm")
CATEGORIES = ("fixed-elsewhere", "deliberate-deviation", *(f"not-applicable-on-{k}" for k in KINDS))
RULE_ID = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class Explanation:
    """One SSG rule's documented reason for failing: its R-number, category, one-line why."""

    rule: str
    control: str
    category: str
    why: str

    def covers(self, kind: str) -> bool:
        """A not-applicable-on-<kind> entry explains failures on that kind of host only."""
        prefix = "not-applicable-on-"
        return not self.category.startswith(prefix) or self.category == prefix + kind


def explanations() -> dict[str, Explanation]:
    """Every entry of the file, keyed by SSG rule id (raises ConfigErrors if malformed)."""
    errors = problems()
    if errors:
        raise data.ConfigErrors(errors)
    return {
        rule: Explanation(rule, str(e["control"]), str(e["category"]), str(e["why"]))
        for rule, e in data.load(FILE).items()
    }


def problems(
    known_rules: Mapping[str, Iterable[str]] | None = None,
) -> list[data.ConfigError]:
    """Schema errors, one per problem. With `known_rules` ({rule id: its ANSSI R-numbers}, from
    SSG's data stream) also unknown rule ids and R-numbers the rule does not reference."""
    errors: list[data.ConfigError] = []
    for rule, entry in data.load(FILE).items():

        def err(msg: str, rule: str = str(rule)) -> None:
            errors.append(data.ConfigError(PATH, rule, msg))

        if not isinstance(rule, str) or not RULE_ID.match(rule):
            err("not an SSG rule id (lower case, digits, underscores, no prefix)")
            continue
        if not isinstance(entry, dict) or set(entry) != {"control", "category", "why"}:
            err("needs exactly control, category and why")
            continue
        if not data.RNUM.match(str(entry["control"])):
            err(f"control {entry['control']!r} is not an R-number of BP-028 v2.0")
        if entry["category"] not in CATEGORIES:
            err(f"category {entry['category']!r} is not one of {', '.join(CATEGORIES)}")
        why = str(entry["why"] or "")
        if not why.strip() or "\n" in why.strip() or len(why) > 200:
            err("why must be one line of at most 200 characters")
        if known_rules is not None:
            if rule not in known_rules:
                err("no such rule in SSG's data stream")
            elif str(entry["control"]) not in set(known_rules[rule]):
                refs = ", ".join(known_rules[rule]) or "none"
                err(f"SSG maps this rule to {refs}, not {entry['control']}")
    return errors
