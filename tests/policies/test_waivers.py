"""Waivers and baselines as data: strict parsing, expiry, one resource per waiver."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pytest

from ground.errors import ConfigErrors, InputError
from policies.baseline import keys
from policies.waivers import apply, parse

TODAY = dt.date(2026, 12, 4)
RULES = {"secgroup-ingress-restricted", "volume-encrypted-type"}
URN = "urn:pulumi:s::hdh::openstack:networking/secGroupRule:SecGroupRule::hdh-bastion-ssh-in"


@dataclass(frozen=True)
class F:
    rule: str
    urn: str
    message: str = "open to the world"

    @property
    def resource_name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]


def waiver(**over: object) -> dict[str, object]:
    return {
        "rule": "secgroup-ingress-restricted",
        "resource": "hdh-bastion-ssh-in",
        "owner": "secops@hdh.example",
        "justification": "vendor access during the migration, SEC-142",
        "expires": "2027-01-31",
    } | over


def test_waived_expired_unused() -> None:
    ws = parse(
        {"waivers": [waiver(), waiver(rule="volume-encrypted-type", expires="2026-12-03")]},
        "w.yaml",
        RULES,
        TODAY,
    )
    other = F("volume-encrypted-type", URN.replace("hdh-bastion-ssh-in", "v"))
    done = apply([F("secgroup-ingress-restricted", URN), other], ws, TODAY)
    assert [f.rule for f, _ in done.waived] == ["secgroup-ingress-restricted"]
    assert done.active == [other] and done.expired == []
    assert [w.rule for w in done.unused] == ["volume-encrypted-type"]
    expiring = F("volume-encrypted-type", URN)
    done = apply([expiring], ws, TODAY)
    assert done.active == [expiring] and done.expired[0][1].expires == dt.date(2026, 12, 3)


def test_expiry_is_inclusive_and_the_urn_also_matches() -> None:
    (w,) = parse([waiver(resource=URN, expires="2026-12-04")], "w", RULES, TODAY)
    assert apply([F("secgroup-ingress-restricted", URN)], [w], TODAY).waived
    assert apply([F("secgroup-ingress-restricted", URN)], [w], TODAY + dt.timedelta(1)).expired


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        (waiver(rule="nope"), "waivers[0].rule", "no such rule"),
        (waiver(resource="*"), "waivers[0].resource", "no wildcard"),
        (waiver(resource="hdh-*"), "waivers[0].resource", "no wildcard"),
        (waiver(owner=""), "waivers[0].owner", "required"),
        (waiver(justification="because"), "waivers[0].justification", "explain why"),
        (waiver(expires="31/01/2027"), "waivers[0].expires", "YYYY-MM-DD"),
        (waiver(expires="2027-02-30"), "waivers[0].expires", "YYYY-MM-DD"),
        (waiver(expires="2030-01-01"), "waivers[0].expires", "review yearly"),
        (waiver(expires=20270131), "waivers[0].expires", "required"),
        (waiver(scope="everything"), "waivers[0].scope", "unknown field"),
        ("a string", "waivers[0]", "expected a mapping"),
    ],
)
def test_bad_entries_name_file_and_key(entry: object, key: str, message: str) -> None:
    with pytest.raises(ConfigErrors) as err:
        parse([entry], "waivers.yaml", RULES, TODAY)
    assert any(
        str(e).startswith(f"waivers.yaml: {key}: ") and message in str(e) for e in err.value.errors
    ), err.value.lines()


def test_duplicates_and_shape() -> None:
    with pytest.raises(ConfigErrors, match=r"same rule and resource as waivers\[0\]"):
        parse([waiver(), waiver()], "w", RULES, TODAY)
    with pytest.raises(Exception, match="expected a list of waivers"):
        parse({"waivers": "all"}, "w", RULES, TODAY)


def test_baseline_reads_json_and_sarif_reports() -> None:
    report = {"violations": [{"rule": "r", "urn": "u", "message": "m"}], "waived": []}
    assert keys(report, "b.json") == {("r", "u", "m")}
    sarif = {
        "runs": [{"results": [{"properties": {"hdh": {"rule": "r", "urn": "u", "message": "m"}}}]}]
    }
    assert keys(sarif, "b.sarif") == {("r", "u", "m")}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "not a policy report"),
        ({"hello": 1}, "not an `hdh policy check` JSON or SARIF report"),
        ({"violations": {"a": 1}}, "violations: expected a list"),
        ({"violations": [{"rule": "r", "urn": 5, "message": "m"}]}, r"violations\[0\]\.urn"),
        ({"violations": ["x"]}, r"violations\[0\]: expected an object"),
        ({"runs": "x"}, "runs: expected a list"),
        ({"runs": [{"results": [{"ruleId": "r"}]}]}, "properties.hdh: missing"),
    ],
)
def test_malformed_baselines(doc: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        keys(json.loads(json.dumps(doc)), "b.json")
