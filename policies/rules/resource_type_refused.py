"""OpenStack types that open a path the pack cannot judge are refused, and so is any unknown."""

from collections.abc import Iterator
from typing import Any

from policies.classification import verdict
from policies.rule import Resource, Rule

RULE = Rule(
    id="resource-type-refused",
    title="No resource of a refused or unclassified OpenStack type",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-exposure", "hds-protection"),
    remediation="Remove the resource (the reason is in the message); a new provider type is "
    "first classified in policies/types.yaml.",
    resource_types=("openstack:*",),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    v = verdict(res.type)
    if v is None:
        # Fail closed: a type nobody reviewed may open a path no rule looks at.
        yield f"{res.type} is not classified in policies/types.yaml: refused until reviewed"
    elif v.verdict == "refused":
        yield f"refused type: {v.why}"
