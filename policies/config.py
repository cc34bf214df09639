"""The pack's config: allow-lists from reviewed data (profiles, policies/defaults.yaml), the one
reader of a policy config file, and the check of every value's type.

Defaults never come from the stack being judged: provider facts come from the profiles
(stacks/profiles/*.yaml, EU membership from stacks/countries.yaml), and the organisation's own
allow-lists from policies/defaults.yaml, which the security team reviews.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from components.profile import available_profiles, load_profile
from ground.errors import ConfigError, InputError
from ground.loader import load
from ground.names import endpoint_key, is_loopback_host
from ground.paths import ROOT

PACK_DEFAULTS = ROOT / "policies" / "defaults.yaml"
LEVELS = ("mandatory", "advisory", "disabled")


@cache
def catalogue() -> dict[str, list[tuple[str, str, bool, bool]]]:
    """Every region any profile names: region -> [(profile, country/location, in EU, test)]."""
    out: dict[str, list[tuple[str, str, bool, bool]]] = {}
    for name in available_profiles():
        p = load_profile(name)
        for region, r in p.regions.items():
            where = f"{r.country}, {r.location}" if r.location else r.country
            out.setdefault(region, []).append((name, where, r.in_eu, r.test and p.test_only))
    return out


@cache
def defaults() -> dict[str, Any]:
    """Each key's default: provider facts from the profiles, the rest from defaults.yaml."""
    profiles = [load_profile(n) for n in available_profiles()]
    real = [p for p in profiles if not p.test_only]
    encrypted = {t for p in profiles for t in p.encrypted_volume_types}
    # A name that is encrypted in one profile but not in another is not trusted anywhere.
    clear = {v.name for p in profiles for v in p.volume_types if not v.is_encrypted}
    endpoints: dict[str, list[str]] = {}
    for p in real:
        if p.auth_url:  # a profile without an endpoint opens nothing
            key = endpoint_key(p.auth_url)
            eu = [r for r, v in p.regions.items() if v.in_eu]
            endpoints[key] = sorted({*endpoints.get(key, []), *eu})
    return {
        "allowedRegions": sorted({r for rs in endpoints.values() for r in rs}),
        "allowedEndpoints": dict(sorted(endpoints.items())),
        "allowTestRegions": False,
        "testRegions": sorted({r for p in profiles if p.test_only for r in p.allowed_regions()}),
        "encryptedVolumeTypes": sorted(encrypted - clear),
        "allowedImages": sorted({i for p in profiles for i in p.images.allowed}),
        "allowedImageIds": [],
        "bastionCidrs": _pack_defaults()["bastionCidrs"],
        "classificationKey": "classification",
        "isolatedTiers": ["data", "processing", "bubble"],
        "psaExemptNamespaces": ["kube-system", "kube-public", "kube-node-lease"],
    }


@cache
def _pack_defaults() -> dict[str, Any]:
    where = "policies/defaults.yaml"
    doc = load(PACK_DEFAULTS, "yaml", where)
    if not isinstance(doc, dict):
        raise ConfigError(where, "", "expected a mapping of config keys")
    for key, value in doc.items():
        if key not in DESCRIPTIONS:
            raise ConfigError(where, key, "not a config key of the pack")
        if problem := type_problem(DESCRIPTIONS[key][0], value):
            raise ConfigError(where, key, problem)
    return doc


_STRINGS = {"type": "array", "items": {"type": "string"}}
DESCRIPTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "allowedRegions": (_STRINGS, "OpenStack regions data may live in (EU regions of the profiles)"),
    "allowedEndpoints": (
        {"type": "object", "additionalProperties": _STRINGS},
        "Keystone endpoints a provider may name, each with the EU regions behind it (profiles)",
    ),
    "allowTestRegions": ({"type": "boolean"}, "accept test regions without a loopback authUrl"),
    "testRegions": (_STRINGS, "regions of testOnly profiles (loopback test clouds)"),
    "encryptedVolumeTypes": (_STRINGS, "volume types that encrypt at rest ('__DEFAULT__' = none)"),
    "allowedImages": (_STRINGS, "image names instances may boot (profiles' images.allowed)"),
    "allowedImageIds": (_STRINGS, "image ids instances may boot (empty: ids not checked)"),
    "bastionCidrs": (
        _STRINGS,
        "public CIDRs allowed to reach the bastion (policies/defaults.yaml, never a stack)",
    ),
    "classificationKey": ({"type": "string"}, "tag/metadata key holding the data classification"),
    "isolatedTiers": (_STRINGS, "tiers whose subnets must never reach an external network"),
    "psaExemptNamespaces": (_STRINGS, "namespaces the Pod Security rule does not judge"),
}


def schema(keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """JSON-schema properties of `keys`, each with type, default and description."""
    d = defaults()
    return {
        k: {**DESCRIPTIONS[k][0], "default": d[k], "description": DESCRIPTIONS[k][1]} for k in keys
    }


def type_problem(spec: Mapping[str, Any], value: Any) -> str | None:
    """Why `value` does not have the schema type `spec` (the subset the pack uses), or None.

    A string where a list is expected would otherwise be searched as text: "GRA11" in
    "GRA11,US-EAST-VA" is true.
    """
    kind = spec["type"]
    if kind == "boolean":
        return None if isinstance(value, bool) else "expected true or false"
    if kind == "string":
        return None if isinstance(value, str) else "expected a string"
    if kind == "array":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "expected a list of strings"
    if not isinstance(value, dict):
        return "expected an object"
    for key, item in value.items():
        if problem := type_problem(spec["additionalProperties"], item):
            return f"{key}: {problem}"
    return None


def read_config(path: Path | None) -> dict[str, Any] | None:
    """A policy config file (JSON, the engine's shape), read by the one safe loader."""
    if path is None:
        return None
    try:
        doc = load(path, "json")
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: a policy config is a JSON object")
    policy_config(doc, str(path))  # every key and value checked before anything is evaluated
    return doc


def policy_config(config: Mapping[str, Any] | None, where: str = "config") -> dict[str, Any]:
    """Per-rule config from a policy config (the engine's shape) or flat schema keys.

    `{"all": "advisory", "<rule-id>": {"enforcementLevel": ..., key: value}, key: value}`:
    a flat schema key applies to every rule that reads it.
    """
    from policies.pack import RULES

    per_rule: dict[str, dict[str, Any]] = {rid: {} for rid in RULES}
    flat = {}
    for key, value in (config or {}).items():
        if key == "all":
            if value not in LEVELS:
                raise InputError(f"{where}: all: expected one of {', '.join(LEVELS)}")
            for rc in per_rule.values():
                rc["enforcementLevel"] = value
        elif key in RULES:
            if isinstance(value, str):
                value = {"enforcementLevel": value}
            if not isinstance(value, dict):
                raise InputError(f"{where}: {key}: expected an object or an enforcement level")
            per_rule[key].update(value)
        elif key in DESCRIPTIONS:
            flat[key] = value
        else:
            raise InputError(f"{where}: {key}: neither a rule id nor a config key")
    for rid, rc in per_rule.items():
        for key, value in flat.items():
            rc.setdefault(key, value)
        for key, value in rc.items():
            if key == "enforcementLevel":
                if value not in LEVELS:
                    raise InputError(f"{where}: {rid}.enforcementLevel: not one of {LEVELS}")
            elif key not in DESCRIPTIONS:
                raise InputError(f"{where}: {rid}.{key}: not a config key")
            elif problem := type_problem(DESCRIPTIONS[key][0], value):
                raise InputError(f"{where}: {rid}.{key}: {problem}")
    return per_rule


def is_loopback(url: Any) -> bool:
    from urllib.parse import urlsplit

    try:
        return isinstance(url, str) and is_loopback_host(urlsplit(url).hostname)
    except ValueError:
        return False
