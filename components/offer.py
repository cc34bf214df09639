"""The offer a profile describes: SecNumCloud qualification, HDS certification and the operator's
jurisdiction, per region, each fact with its source and the date it was checked.

Health data may only run where all three hold (SecNumCloud 3.2 §19.6, HDS v2 requirements
28-31): a fact that is unknown (`null`) counts as not established, never as granted.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, StrictBool

from components.model import Model

DATE = r"^\d{4}-\d{2}(-\d{2})?$"
# Classifications that mean health data: `health` and `health-*` (the Pulumi.yaml default is
# health-pseudonymised, so a stack that says nothing is treated as holding health data).
HEALTH = re.compile(r"^health(-|$)")
REQUIREMENT = "SecNumCloud 3.2 §19.6, HDS v2 req. 28-31"


class Fact(Model):
    """Where a claim was read and when: no source, no claim."""

    source: str = Field(min_length=8)
    checked: str = Field(pattern=DATE)
    note: str = ""


class Qualification(Fact):
    """A SecNumCloud qualification or an HDS certificate of the offer."""

    granted: StrictBool | None  # None: could not be established from a public source
    scope: str = ""  # what the certificate or qualification covers, as published
    since: str | None = Field(default=None, pattern=DATE)
    regions: list[str] | None = None  # regions covered; None: every region of the profile


class Operator(Fact):
    name: str
    jurisdiction: str = Field(pattern=r"^[A-Z]{2}$")  # ISO country of its registered seat


class Offer(Model):
    name: str
    kind: Literal["public-cloud", "dedicated", "test"]
    operator: Operator
    secnumcloud: Qualification
    hds: Qualification


class Services(Model):
    """Services that SCS (scs-0123) makes optional: declared per profile, never assumed."""

    key_manager: bool  # Barbican: the platform's data keys (crypto-shredding)
    object_storage: bool  # Swift: bubble and data-tier containers
    magnum: bool = False  # Kubernetes as a service (the `magnum` Kubernetes mode)


def covers(q: Qualification, region: str) -> bool:
    return q.granted is True and (q.regions is None or region in q.regions)


def health_refusal(offer: Offer | None, region: str, eu_members: frozenset[str]) -> str | None:
    """Why health data may not run on this offer in this region, or None when it may."""
    if offer is None:
        return "the profile declares no offer (qualification, certification, operator)"
    why = []
    if not covers(offer.secnumcloud, region):
        why.append(
            "is not SecNumCloud-qualified"
            if offer.secnumcloud.granted is False
            else "has no established SecNumCloud qualification"
            if offer.secnumcloud.granted is None
            else f"is SecNumCloud-qualified, but not in region {region}"
        )
    if not covers(offer.hds, region):
        why.append(
            "is not HDS-certified"
            if offer.hds.granted is False
            else "has no established HDS certification"
            if offer.hds.granted is None
            else f"is HDS-certified, but not in region {region}"
        )
    if offer.operator.jurisdiction not in eu_members:
        why.append(f"is operated under {offer.operator.jurisdiction} law (outside the EU)")
    if not why:
        return None
    return f"{offer.name} in {region} " + " and ".join(why)


def is_health(classification: str) -> bool:
    return bool(HEALTH.match(classification))
