"""Health data only on a SecNumCloud-qualified, HDS-certified offer under EU law."""

from collections.abc import Iterator
from typing import Any

from components.offer import REQUIREMENT, health_refusal
from components.profile import available_profiles, countries, load_profile
from ground.names import endpoint_key
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
    config=("qualifiedEndpoints", "healthClassifications", "classificationKey"),
)


def check(res: Resource, cfg: dict[str, Any]) -> Iterator[str]:
    value = res.tags().get(cfg["classificationKey"], "")
    if not any(value == h or value.startswith(f"{h}-") for h in cfg["healthClassifications"]):
        return
    region = res.get("region") or res.get("region", of="provider")
    url = res.get("authUrl", of="provider")
    key = endpoint_key(url) if isinstance(url, str) and url else None
    # Region names repeat across providers (RegionOne): the endpoint says whose region it is.
    if key and isinstance(region, str) and region in cfg["qualifiedEndpoints"].get(key, ()):
        return
    yield f"health data ({cfg['classificationKey']}={value}) {_where(region, key)} ({REQUIREMENT})"


def _where(region: Any, key: str | None) -> str:
    if not isinstance(region, str) or not region:
        return "with no region pinned: no offer can be established"
    if key is None:
        return f"in region {region} with no provider endpoint: no offer can be established"
    reasons = [
        why
        for name in available_profiles()
        if (p := load_profile(name)).auth_url
        and endpoint_key(p.auth_url) == key
        and region in p.regions
        and (why := health_refusal(p.offer, region, countries()[0])) is not None
    ]
    if reasons:
        return "on " + "; ".join(reasons)
    return f"in region {region} of {key}, not a qualifiedEndpoints entry"
