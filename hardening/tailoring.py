"""XCCDF tailoring of SSG's ANSSI BP-028 profiles: data/scap_tailoring.yaml, checked and rendered.

    hdh tailoring [--profile anssi_bp28_intermediary ...] [--datastream ssg-debian12-ds.xml] \
        --out hdh-tailoring.xml

The tailored profiles extend SSG's and change two things only: the values the organisation
defines differently (taken from the hardening data, so the judge checks what the deploys apply)
and the rules whose check is known to be wrong. With the data stream given, every profile, value
and rule id is checked against it. Use the file with
`oscap xccdf eval --tailoring-file hdh-tailoring.xml --profile <tailored id> ssg-debian12-ds.xml`.
Exit 0: written, 2: bad data or ids (one line per problem, naming the file and key).
"""

from __future__ import annotations

import hashlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ground.paths import ROOT
from hardening import data
from hardening.explanations import Explanation

FILE = "scap_tailoring"
PATH = f"hardening/data/{FILE}.yaml"
XCCDF_NS = "http://checklists.nist.gov/xccdf/1.2"
X = f"{{{XCCDF_NS}}}"
SSG_PROFILE = "xccdf_org.ssgproject.content_profile_"
SSG_VALUE = "xccdf_org.ssgproject.content_value_"
SSG_RULE = "xccdf_org.ssgproject.content_rule_"
PROFILE = "xccdf_org.hdh-platform_profile_"
SUFFIX = "_hdh"
TAILORING_ID = "xccdf_org.hdh-platform_tailoring_anssi_bp28"
# SSG's BP-028 profiles and the hardening level each one corresponds to.
LEVELS = {
    "anssi_bp28_minimal": "minimal",
    "anssi_bp28_intermediary": "intermediary",
    "anssi_bp28_enhanced": "enhanced",
    "anssi_bp28_high": "high",
}
DEFAULT_PROFILES = ("anssi_bp28_intermediary", "anssi_bp28_enhanced")


@dataclass(frozen=True)
class ValueChange:
    """An SSG variable set to the value of one hardening setting."""

    var: str  # SSG value id, without SSG_VALUE
    area: str
    key: str
    control: str
    why: str

    def value(self, level: str) -> str | None:
        """The setting's value at `level` (base role), or None if that level does not set it."""
        s = data.baseline(self.area, level).get(self.key)
        return None if s is None else str(s.value)


@dataclass(frozen=True)
class Deselection:
    """An SSG rule left out of the tailored profiles: its check is known to be wrong."""

    rule: str  # SSG rule id, without SSG_RULE
    control: str
    why: str
    upstream: str
    checked_by: str


def base_name(profile: str) -> str:
    """`anssi_bp28_intermediary` from a stock or tailored profile id or short name."""
    for prefix in (SSG_PROFILE, PROFILE):
        profile = profile.removeprefix(prefix)
    return profile.removesuffix(SUFFIX)


def tailored_id(profile: str) -> str:
    """The tailored profile id for a base profile (id or short name)."""
    return f"{PROFILE}{base_name(profile)}{SUFFIX}"


def is_tailored(profile: str) -> bool:
    return profile.startswith(PROFILE) or profile.endswith(SUFFIX)


def problems() -> list[data.ConfigError]:
    """Schema errors of the data file, one per problem."""
    errors: list[data.ConfigError] = []
    doc = data.load(FILE)

    def err(key: str, msg: str) -> None:
        errors.append(data.ConfigError(PATH, key, msg))

    if set(doc) - {"values", "deselect"}:
        err(",".join(sorted(set(doc) - {"values", "deselect"})), "unknown section")
    for var, entry in (doc.get("values") or {}).items():
        where = f"values.{var}"
        if not isinstance(entry, dict) or set(entry) != {"setting", "control", "why"}:
            err(where, "needs exactly setting, control and why")
            continue
        area, _, key = str(entry["setting"]).partition("/")
        if area not in data.AREAS or not key:
            err(where, f"setting {entry['setting']!r} is not <area>/<key> of a hardening area")
        elif not any(key in data.baseline(area, lvl) for lvl in data.LEVELS):
            err(where, f"setting {entry['setting']!r}: no such key in hardening/data/{area}.yaml")
        _common(entry, where, err)
    for rule, entry in (doc.get("deselect") or {}).items():
        where = f"deselect.{rule}"
        want = {"control", "why", "upstream", "checked_by"}
        if not isinstance(entry, dict) or set(entry) != want:
            err(where, "needs exactly control, why, upstream and checked_by")
            continue
        if not str(entry["upstream"]).startswith("https://"):
            err(where, "upstream must be the https address of the public defect report")
        test_file, sep, test = str(entry["checked_by"]).partition("::")
        if not sep or not (ROOT / test_file).is_file():
            err(where, "checked_by must be <test file>::<test>, an existing file")
        elif f"def {test}(" not in (ROOT / test_file).read_text():
            err(where, f"no test {test} in {test_file}")
        _common(entry, where, err)
    return errors


def _common(entry: dict[str, object], where: str, err: Callable[[str, str], None]) -> None:
    if not data.RNUM.match(str(entry["control"])):
        err(where, f"control {entry['control']!r} is not an R-number of BP-028 v2.0")
    why = str(entry["why"] or "").strip()
    if not why or "\n" in why or len(why) > 200:
        err(where, "why must be one line of at most 200 characters")


@cache
def tailoring() -> tuple[tuple[ValueChange, ...], tuple[Deselection, ...]]:
    """The value changes and deselections (raises ConfigErrors if the file is malformed)."""
    errors = problems()
    if errors:
        raise data.ConfigErrors(errors)
    doc = data.load(FILE)
    values = tuple(
        ValueChange(
            str(var),
            str(e["setting"]).partition("/")[0],
            str(e["setting"]).partition("/")[2],
            str(e["control"]),
            str(e["why"]).strip(),
        )
        for var, e in (doc.get("values") or {}).items()
    )
    deselect = tuple(
        Deselection(
            str(rule),
            str(e["control"]),
            str(e["why"]).strip(),
            str(e["upstream"]),
            str(e["checked_by"]),
        )
        for rule, e in (doc.get("deselect") or {}).items()
    )
    return values, deselect


@dataclass(frozen=True)
class _Stream:
    """What the renderer checks ids against: SSG's profiles, values (with type), rules."""

    profiles: frozenset[str]
    values: dict[str, str]
    rules: frozenset[str]
    rules_of_value: dict[str, tuple[str, ...]]


@cache
def _stream(datastream: Path) -> _Stream:
    root = ET.parse(datastream).getroot()
    bench = next(root.iter(f"{X}Benchmark"))
    rules_of: dict[str, list[str]] = {}
    rules = set()
    for rule in bench.iter(f"{X}Rule"):
        rid = rule.get("id", "").removeprefix(SSG_RULE)
        rules.add(rid)
        for export in rule.iter(f"{X}check-export"):
            rules_of.setdefault(export.get("value-id", "").removeprefix(SSG_VALUE), []).append(rid)
    return _Stream(
        profiles=frozenset(p.get("id", "") for p in bench.iter(f"{X}Profile")),
        values={
            v.get("id", "").removeprefix(SSG_VALUE): v.get("type", "string")
            for v in bench.iter(f"{X}Value")
        },
        rules=frozenset(rules),
        rules_of_value={k: tuple(sorted(set(v))) for k, v in rules_of.items()},
    )


def check_against(datastream: Path, profiles: Iterable[str] = DEFAULT_PROFILES) -> None:
    """Every base profile, value id, value type and rule id must exist in the data stream."""
    values, deselect = tailoring()
    s = _stream(datastream)
    errors: list[data.ConfigError] = []
    for p in profiles:
        if SSG_PROFILE + base_name(p) not in s.profiles or base_name(p) not in LEVELS:
            errors.append(data.ConfigError(str(datastream), p, "no such BP-028 profile"))
    for v in values:
        if v.var not in s.values:
            errors.append(data.ConfigError(PATH, f"values.{v.var}", "no such value in SSG"))
            continue
        for p in profiles:
            got = v.value(LEVELS.get(base_name(p), "intermediary"))
            if got is not None and s.values[v.var] == "number" and not _is_number(got):
                errors.append(data.ConfigError(PATH, f"values.{v.var}", f"{got!r} is not a number"))
    for d in deselect:
        if d.rule not in s.rules:
            errors.append(data.ConfigError(PATH, f"deselect.{d.rule}", "no such rule in SSG"))
    if errors:
        raise data.ConfigErrors(errors)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def render(profiles: Sequence[str] = DEFAULT_PROFILES, datastream: Path | None = None) -> bytes:
    """The XCCDF 1.2 Tailoring document: one tailored profile per base profile.

    Its version is a hash of the content (the `time` oscap requires is the render time, kept
    out of the hash), so it can be cached by version. With `datastream`, ids are checked first
    (ConfigErrors)."""
    if datastream is not None:
        check_against(datastream, profiles)
    values, deselect = tailoring()
    ET.register_namespace("xccdf", XCCDF_NS)
    doc = ET.Element(f"{X}Tailoring", {"id": TAILORING_ID})
    ET.SubElement(doc, f"{X}benchmark", {"href": "ssg-debian12-ds.xml"})
    version = ET.SubElement(doc, f"{X}version")
    for p in profiles:
        base = base_name(p)
        level = LEVELS.get(base, "intermediary")
        prof = ET.SubElement(
            doc, f"{X}Profile", {"id": tailored_id(base), "extends": SSG_PROFILE + base}
        )
        title = ET.SubElement(prof, f"{X}title", {"override": "true"})
        title.text = f"ANSSI-BP-028 ({level}), hdh-platform tailoring"
        desc = ET.SubElement(prof, f"{X}description", {"override": "true"})
        desc.text = (
            f"SSG's {base} with the organisation's values and without rules whose check is "
            f"known to be wrong; every change and its reason: {PATH}."
        )
        for d in deselect:
            ET.SubElement(prof, f"{X}select", {"idref": SSG_RULE + d.rule, "selected": "false"})
        for v in values:
            value = v.value(level)
            if value is not None:
                ET.SubElement(prof, f"{X}set-value", {"idref": SSG_VALUE + v.var}).text = value
    version.text = hashlib.sha256(ET.tostring(doc)).hexdigest()[:16]
    version.set("time", time.strftime("%Y-%m-%dT%H:%M:%S"))
    ET.indent(doc)
    return ET.tostring(doc, encoding="UTF-8", xml_declaration=True) + b"\n"


def version(text: bytes) -> str:
    """The content hash a rendered tailoring carries as its version."""
    el = ET.fromstring(text).find(f"{X}version")
    return (el.text or "") if el is not None else ""


def explanations(datastream: Path) -> dict[str, Explanation]:
    """For stock-profile results: each rule checked against a tailored value, and each deselected
    rule, explained by the tailoring (category deliberate-deviation)."""
    values, deselect = tailoring()
    rules_of = _stream(datastream).rules_of_value
    out = {
        rule: Explanation(rule, v.control, "deliberate-deviation", f"tailored: {v.why}")
        for v in values
        for rule in rules_of.get(v.var, ())
    }
    out.update(
        {
            d.rule: Explanation(d.rule, d.control, "deliberate-deviation", f"deselected: {d.why}")
            for d in deselect
        }
    )
    return out


def summary(level: str = "intermediary") -> list[dict[str, str]]:
    """The tailoring as rows for reports: kind, SSG id, R-number, our value, reason."""
    values, deselect = tailoring()
    rows = [
        {
            "change": "set-value",
            "id": v.var,
            "control": v.control,
            "value": v.value(level) or "",
            "why": v.why,
        }
        for v in values
    ]
    rows += [
        {
            "change": "deselect",
            "id": d.rule,
            "control": d.control,
            "value": f"checked by {d.checked_by}; see {d.upstream}",
            "why": d.why,
        }
        for d in deselect
    ]
    return rows
