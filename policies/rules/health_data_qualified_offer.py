"""Health data only on a SecNumCloud-qualified, HDS-certified offer under EU law."""

from collections.abc import Iterator
from typing import Any

from components.offer import REQUIREMENT, health_refusal
from components.profile import available_profiles, load_profile
from policies.rule import Resource, Rule

RULE = Rule(
    id="health-data-qualified-offer",
    title="Health data runs only on a SecNumCloud-qualified, HDS-certified offer",
    severity="critical",
    enforcement="mandatory",
    frameworks=("snc-qualified-offer", "hds-hosting-eea"),
    remediation="Deploy health data on a stack of a qualified profile (offer.secnumcloud and "
    "offer.hds granted for its region), or classify the resource as non-health.",
    resource_types=("openstack:*",),
    config=("qualifiedRegions", "healthClassifications", "classificationKey"),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    value = res.tags().get(cfg["classificationKey"], "")
    if not any(value == h or value.startswith(f"{h}-") for h in cfg["healthClassifications"]):
        return
    region = res.get("region") or res.get("region", of="provider")
    if isinstance(region, str) and region in cfg["qualifiedRegions"]:
        return
    yield f"health data ({cfg['classificationKey']}={value}) {_where(region)} ({REQUIREMENT})"


def _where(region: Any) -> str:
    if not isinstance(region, str) or not region:
        return "with no region pinned: no offer can be established"
    reasons = [
        why
        for name in available_profiles()
        if region in (p := load_profile(name)).regions
        and (why := health_refusal(p.offer, region)) is not None
    ]
    if reasons:
        return "on " + "; ".join(reasons)
    return f"in region {region}, not a qualifiedRegions entry"
