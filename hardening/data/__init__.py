"""Hardening values keyed by ANSSI BP-028 R-number and level, with role deviations applied."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ground.errors import ConfigError, ConfigErrors
from hardening.areas import ANSSI_NAMES

HERE = Path(__file__).parent
LEVELS = ("minimal", "intermediary", "enhanced", "high")
RNUM = re.compile(r"^R([1-9]|[1-7][0-9]|80)$")
# Data files that hold settings, one per ANSSI area (every other YAML here is metadata, or the
# services tier's own data, services_tier.yaml).
AREAS = ANSSI_NAMES
DEFAULT_ROLE = "base"


@dataclass(frozen=True)
class Setting:
    """One value to enforce: which control asks for it, and the value."""

    control: str
    key: str
    value: Any


@dataclass(frozen=True)
class Deviation:
    """A role's documented departure from the baseline (value None: the key is not applied)."""

    control: str
    area: str
    key: str
    value: Any
    why: str


@dataclass(frozen=True)
class Role:
    name: str
    level: str
    description: str
    deviations: tuple[Deviation, ...]


def rnum_key(rnum: str) -> int:
    return int(rnum[1:])


@cache
def load(name: str) -> dict[str, Any]:
    """One data file as a dict (cached: the files are read-only at run time)."""
    path = HERE / f"{name}.yaml"
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(str(path), "", "no such hardening data file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "", f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(str(path), "", "must be a mapping")
    return doc


def level_at_least(level: str, wanted: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(wanted)


@cache
def roles() -> dict[str, Role]:
    doc = load("roles")
    common = [Deviation(**d) for d in doc.get("common", {}).get("deviations", [])]
    out: dict[str, Role] = {}
    for name, spec in doc["roles"].items():
        own = [Deviation(**d) for d in spec.get("deviations", [])]
        out[name] = Role(name, spec["level"], spec["description"], tuple(common + own))
    return out


def role(name: str | None) -> Role:
    name = name or DEFAULT_ROLE
    known = roles()
    if name not in known:
        raise ConfigError(
            "hardening/data/roles.yaml", f"roles.{name}", f"unknown role (known: {sorted(known)})"
        )
    return known[name]


def baseline(area: str, level: str) -> dict[str, Setting]:
    """Every setting of an area up to `level`; a higher level overrides a lower one's value."""
    out: dict[str, Setting] = {}
    for rnum in sorted(load(area), key=rnum_key):
        by_level = load(area)[rnum]
        for lvl in LEVELS:
            if lvl in by_level and level_at_least(level, lvl):
                for key, value in (by_level[lvl] or {}).items():
                    out[str(key)] = Setting(rnum, str(key), value)
    return out


def settings(
    area: str, role_name: str | None = None, level: str | None = None
) -> dict[str, Setting]:
    """The settings a host of `role_name` gets for `area`, deviations applied."""
    r = role(role_name)
    out = baseline(area, level or r.level)
    for dev in r.deviations:
        if dev.area != area:
            continue
        if dev.value is None:
            out.pop(dev.key, None)
        else:
            out[dev.key] = Setting(dev.control, dev.key, dev.value)
    return out


def waivers(area: str, role_name: str | None = None) -> dict[str, Deviation]:
    """Keys of an area a role does not apply, with the justification."""
    return {d.key: d for d in role(role_name).deviations if d.area == area and d.value is None}


def deviation(area: str, key: str, role_name: str | None = None) -> Deviation | None:
    for dev in role(role_name).deviations:
        if dev.area == area and dev.key == key:
            return dev
    return None


def controls() -> dict[str, dict[str, Any]]:
    """The BP-028 v2.0 catalogue (title, level, and `out` when not implemented)."""
    return load("controls")


def validate() -> None:
    """Schema-check every data file; raise ConfigErrors listing every problem found."""
    errors: list[ConfigError] = []

    def err(name: str, key: str, msg: str) -> None:
        errors.append(ConfigError(f"hardening/data/{name}.yaml", key, msg))

    catalogue = load("controls")
    for rnum, spec in catalogue.items():
        if not RNUM.match(rnum):
            err("controls", rnum, "not an R-number of BP-028 v2.0 (R1-R80)")
        elif spec.get("level") not in LEVELS or not spec.get("title"):
            err("controls", rnum, "needs a title and a level among " + ", ".join(LEVELS))
    if len(catalogue) != 80:
        err("controls", "", f"lists {len(catalogue)} controls, BP-028 v2.0 has 80")
    for area in AREAS:
        for rnum, by_level in load(area).items():
            if not RNUM.match(str(rnum)):
                err(area, str(rnum), "top-level keys must be R-numbers (R1-R80)")
                continue
            if rnum in catalogue and "out" in catalogue[rnum]:
                err(area, rnum, "has settings but controls.yaml says it is left out")
            if not isinstance(by_level, dict) or not by_level:
                err(area, rnum, "must map levels to settings")
                continue
            for lvl, values in by_level.items():
                if lvl not in LEVELS:
                    err(area, f"{rnum}.{lvl}", "unknown level (minimal/intermediary/enhanced/high)")
                elif not isinstance(values, dict) or not values:
                    err(area, f"{rnum}.{lvl}", "must be a non-empty mapping of settings")
    doc = load("roles")
    for i, dev in enumerate(doc.get("common", {}).get("deviations", [])):
        _check_deviation(dev, f"common.deviations[{i}]", err)
    for name, spec in doc.get("roles", {}).items():
        if spec.get("level") not in LEVELS:
            err("roles", f"roles.{name}.level", "must be one of " + ", ".join(LEVELS))
        if not spec.get("description"):
            err("roles", f"roles.{name}.description", "missing")
        for i, dev in enumerate(spec.get("deviations", [])):
            _check_deviation(dev, f"roles.{name}.deviations[{i}]", err)
    if errors:
        raise ConfigErrors(errors)


def _check_deviation(dev: dict[str, Any], where: str, err: Any) -> None:
    missing = {"control", "area", "key", "value", "why"} - set(dev)
    if missing:
        err("roles", where, f"missing {sorted(missing)}")
        return
    if dev["area"] not in AREAS:
        err("roles", f"{where}.area", f"unknown area {dev['area']!r}")
        return
    if len(str(dev["why"]).split()) < 5:
        err("roles", f"{where}.why", "a deviation needs a real justification")
    owners = {
        s.control
        for lvl in LEVELS
        for s in baseline(dev["area"], lvl).values()
        if s.key == dev["key"]
    }
    if owners and dev["control"] not in owners:
        err("roles", f"{where}.control", f"{dev['key']} belongs to {sorted(owners)}")
    if not owners and dev["value"] is None:
        err("roles", f"{where}.key", f"{dev['key']} is not a setting of {dev['area']}")
