"""The pack's config schema: allow-lists a security team tunes, defaulting from the profiles."""

from __future__ import annotations

import ipaddress
from functools import cache
from typing import Any
from urllib.parse import urlparse

import yaml

from components.profile import available_profiles, load_profile
from ground.paths import ROOT


@cache
def catalogue() -> dict[str, list[tuple[str, str, bool, bool]]]:
    """Every region any profile names: region -> [(profile, country/location, eu, test)]."""
    out: dict[str, list[tuple[str, str, bool, bool]]] = {}
    for name in available_profiles():
        p = load_profile(name)
        for region, r in p.regions.items():
            where = f"{r.country}, {r.location}" if r.location else r.country
            out.setdefault(region, []).append((name, where, r.eu, r.test and p.test_only))
    return out


@cache
def defaults() -> dict[str, Any]:
    """Each key's default, from the provider profiles (and the stacks' admin CIDRs)."""
    profiles = [load_profile(n) for n in available_profiles()]
    real = [p for p in profiles if not p.test_only]
    encrypted = {t for p in profiles for t in p.encrypted_volume_types}
    # A name that is encrypted in one profile but not in another is not trusted anywhere.
    clear = {v.name for p in profiles for v in p.volume_types if not v.is_encrypted}
    return {
        "allowedRegions": sorted({r for p in real for r, v in p.regions.items() if v.eu}),
        "allowedAuthUrls": sorted({p.auth_url for p in real if p.auth_url}),
        "allowTestRegions": False,
        "testRegions": sorted({r for p in profiles if p.test_only for r in p.allowed_regions()}),
        "encryptedVolumeTypes": sorted(encrypted - clear),
        "allowedImages": sorted({i for p in profiles for i in p.images.allowed}),
        "allowedImageIds": [],
        "bastionCidrs": _stack_admin_cidrs(),
        "bastionName": "bastion",
        "classificationKey": "classification",
        "isolatedTiers": ["data", "processing", "bubble"],
        "psaExemptNamespaces": ["kube-system", "kube-public", "kube-node-lease"],
        "qualifiedRegions": _qualified_regions(profiles),
        "healthClassifications": ["health"],
    }


def _qualified_regions(profiles: list[Any]) -> list[str]:
    """Regions of offers fit for health data: SecNumCloud-qualified, HDS-certified, EU operator."""
    from components.offer import health_refusal

    return sorted(
        {
            r
            for p in profiles
            if not p.test_only
            for r in p.regions
            if not health_refusal(p.offer, r)
        }
    )


def _stack_admin_cidrs() -> list[str]:
    out: set[str] = set()
    for path in (ROOT / "stacks").glob("Pulumi.*.yaml"):
        doc = yaml.safe_load(path.read_text()) or {}
        out.update((doc.get("config") or {}).get("hdh:adminCidrs") or [])
    return sorted(out)


_STRINGS = {"type": "array", "items": {"type": "string"}}
DESCRIPTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "allowedRegions": (_STRINGS, "OpenStack regions data may live in (EU regions of the profiles)"),
    "allowedAuthUrls": (_STRINGS, "Keystone endpoints a provider may name (the profiles' authUrl)"),
    "allowTestRegions": ({"type": "boolean"}, "accept test regions without a loopback authUrl"),
    "testRegions": (_STRINGS, "regions of testOnly profiles (loopback test clouds)"),
    "encryptedVolumeTypes": (_STRINGS, "volume types that encrypt at rest ('__DEFAULT__' = none)"),
    "allowedImages": (_STRINGS, "image names instances may boot (profiles' images.allowed)"),
    "allowedImageIds": (_STRINGS, "image ids instances may boot (empty: ids not checked)"),
    "bastionCidrs": (
        _STRINGS,
        "public CIDRs allowed to reach the bastion (stacks' hdh:adminCidrs)",
    ),
    "bastionName": ({"type": "string"}, "name fragment of the bastion's resources"),
    "classificationKey": ({"type": "string"}, "tag/metadata key holding the data classification"),
    "isolatedTiers": (_STRINGS, "tiers whose subnets must never reach an external network"),
    "psaExemptNamespaces": (_STRINGS, "namespaces the Pod Security rule does not judge"),
    "qualifiedRegions": (
        _STRINGS,
        "regions of SecNumCloud-qualified, HDS-certified offers (profiles' offer facts)",
    ),
    "healthClassifications": (
        _STRINGS,
        "classification values (or prefixes before '-') that mean health data",
    ),
}


def schema(keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """JSON-schema properties of `keys`, each with type, default and description."""
    d = defaults()
    return {
        k: {**DESCRIPTIONS[k][0], "default": d[k], "description": DESCRIPTIONS[k][1]} for k in keys
    }


def is_loopback(url: Any) -> bool:
    host = urlparse(url).hostname if isinstance(url, str) else None
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
