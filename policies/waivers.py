"""Waivers: one accepted finding per entry (rule + resource), with an owner, a justification and
an expiry date; an expired waiver waives nothing, and the finding is a violation again.

    waivers:
      - rule: secgroup-ingress-restricted
        resource: hdh-bastion-ssh-in          # the resource's name, or its full URN
        owner: secops@hdh.example
        justification: Temporary vendor access for the migration, ticket SEC-142
        expires: 2027-01-31                   # last day the waiver holds (UTC)

No wildcard: a waiver names one rule and one resource, so a new resource is never waived by an
old entry. A waiver that matches nothing is reported as unused (it may hide a renamed resource).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ground.errors import ConfigError, ConfigErrors

FIELDS = {"rule", "resource", "owner", "justification", "expires", "ticket"}
MAX_WAIVERS = 10_000
MAX_DAYS = 366  # a waiver is reviewed at least once a year
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class FindingLike(Protocol):
    rule: str
    urn: str
    message: str

    @property
    def resource_name(self) -> str: ...


@dataclass(frozen=True)
class Waiver:
    rule: str
    resource: str
    owner: str
    justification: str
    expires: dt.date
    ticket: str = ""

    def matches(self, finding: FindingLike) -> bool:
        return finding.rule == self.rule and self.resource in (finding.urn, finding.resource_name)

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def to_json(self) -> dict[str, str]:
        out = {
            "rule": self.rule,
            "resource": self.resource,
            "owner": self.owner,
            "justification": self.justification,
            "expires": self.expires.isoformat(),
        }
        return out | ({"ticket": self.ticket} if self.ticket else {})


@dataclass
class Applied:
    """Findings split by the waivers: still active, waived, and the waivers that did nothing."""

    active: list[Any] = field(default_factory=list)
    waived: list[tuple[Any, Waiver]] = field(default_factory=list)
    expired: list[tuple[Any, Waiver]] = field(default_factory=list)  # active again
    unused: list[Waiver] = field(default_factory=list)


def parse(doc: Any, where: str, rules: Iterable[str], today: dt.date) -> list[Waiver]:
    """Check a waivers document; every problem at once, `file: waivers[i].key: message`."""
    known = set(rules)
    if isinstance(doc, Mapping):
        doc = doc.get("waivers", doc if "rule" in doc else None)
    if not isinstance(doc, list):
        raise ConfigError(where, "waivers", "expected a list of waivers")
    if len(doc) > MAX_WAIVERS:
        raise ConfigError(where, "waivers", f"more than {MAX_WAIVERS} entries")
    errors: list[ConfigError] = []
    out: list[Waiver] = []
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(doc):
        key = f"waivers[{i}]"
        if not isinstance(entry, Mapping):
            errors.append(ConfigError(where, key, "expected a mapping"))
            continue
        extra = sorted(str(k) for k in entry if k not in FIELDS)
        if extra:
            errors.append(ConfigError(where, f"{key}.{extra[0]}", "unknown field"))
        values: dict[str, str] = {}
        for name in ("rule", "resource", "owner", "justification", "expires"):
            v = entry.get(name)
            if isinstance(v, dt.date):
                v = v.isoformat()  # a YAML 1.1 reader turns 2027-01-31 into a date
            if not isinstance(v, str) or not v.strip():
                errors.append(ConfigError(where, f"{key}.{name}", "required (a non-empty string)"))
            else:
                values[name] = v.strip()
        if len(values) < 5:
            continue
        if values["rule"] not in known:
            errors.append(ConfigError(where, f"{key}.rule", f"no such rule {values['rule']!r}"))
        if any(c in values["resource"] for c in "*?[") or len(values["resource"]) > 1024:
            errors.append(
                ConfigError(where, f"{key}.resource", "one resource (name or URN), no wildcard")
            )
        if len(values["justification"]) < 10:
            errors.append(ConfigError(where, f"{key}.justification", "explain why (10+ chars)"))
        expires = _date(values["expires"])
        if expires is None:
            errors.append(ConfigError(where, f"{key}.expires", "expected a date YYYY-MM-DD"))
            continue
        if (expires - today).days > MAX_DAYS:
            errors.append(
                ConfigError(
                    where, f"{key}.expires", f"more than {MAX_DAYS} days ahead: review yearly"
                )
            )
        ident = (values["rule"], values["resource"])
        if ident in seen:
            errors.append(
                ConfigError(where, key, f"same rule and resource as waivers[{seen[ident]}]")
            )
        seen.setdefault(ident, i)
        ticket = entry.get("ticket")
        out.append(
            Waiver(
                values["rule"],
                values["resource"],
                values["owner"],
                values["justification"],
                expires,
                ticket if isinstance(ticket, str) else "",
            )
        )
    if errors:
        raise ConfigErrors(errors)
    return out


def _date(text: str) -> dt.date | None:
    if not DATE.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def apply(findings: Sequence[Any], waivers: Sequence[Waiver], today: dt.date) -> Applied:
    """Split findings; an expired waiver leaves its finding active and is listed as expired."""
    out = Applied()
    used: set[Waiver] = set()
    for f in findings:
        w = next((w for w in waivers if w.matches(f)), None)
        if w is None:
            out.active.append(f)
            continue
        used.add(w)
        if w.expired(today):
            out.active.append(f)
            out.expired.append((f, w))
        else:
            out.waived.append((f, w))
    out.unused = [w for w in waivers if w not in used]
    return out


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def suppress(result: Any, waivers: Sequence[Waiver], on: dt.date | None = None) -> None:
    """Apply waivers to a policies.run.Result in place (findings keep only the active ones)."""
    done = apply(result.findings, waivers, on or today())
    result.findings = done.active
    result.waived = done.waived
    result.expired_waivers = done.expired
    result.unused_waivers = done.unused


def load(path: Any, rules: Iterable[str], on: dt.date | None = None) -> list[Waiver]:
    """Read and check a waivers file (YAML or JSON)."""
    from pathlib import Path

    import yaml

    from ground.errors import InputError

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text") from None
    try:
        # BaseLoader: every scalar stays a string (no YAML 1.1 dates, booleans or numbers).
        doc = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: not valid YAML or JSON: {exc}") from None
    return parse(doc, str(p), rules, on or today())
