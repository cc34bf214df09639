"""Each rule on its fixtures: fail-* resources must be flagged, pass-* must not (meta-tests too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from policies.controls import CONTROLS
from policies.pack import POLICIES, RULES
from policies.run import evaluate  # the very function `hdh policy check` calls
from tests.policies.formats import load, to_export

HERE = Path(__file__).parent
FIXTURES = sorted(HERE.glob("*/*.yaml"))  # <rule-id>/<scenario>.yaml
RULES_DIR = Path(RULES["volume-encrypted-type"].__file__ or "").parent


@pytest.mark.parametrize("path", FIXTURES, ids=[f"{p.parent.name}/{p.stem}" for p in FIXTURES])
def test_fixture(path: Path) -> None:
    # given a fixture as a stack export, when only its rule runs
    doc = load(path)
    result = evaluate(to_export(doc), config=doc.get("config"), only=[path.parent.name])
    # then exactly the fail-* resources are flagged, each by this rule, none left undetermined
    flagged = {f.resource_name for f in result}
    expected = {r["name"] for r in doc["resources"] if r["name"].startswith("fail-")}
    assert flagged == expected, [f"{f.resource_name}: {f.message}" for f in result]
    assert {f.rule for f in result} <= {path.parent.name}
    assert not result.undetermined


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_has_both_kinds(rule_id: str) -> None:
    docs = [load(p) for p in (HERE / rule_id).glob("*.yaml")]
    prefixes = {r["name"].split("-")[0] for d in docs for r in d["resources"]}
    assert {"pass", "fail"} <= prefixes, f"{rule_id}: fixtures need pass-* and fail-* resources"


def test_every_fixture_dir_is_a_rule() -> None:
    dirs = {p.name for p in HERE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert dirs == set(RULES)


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_metadata_complete(rule_id: str) -> None:
    rule = RULES[rule_id].RULE
    assert rule.id == rule_id and rule.id == rule.id.lower() and " " not in rule.id
    assert RULES[rule_id].__name__.rsplit(".", 1)[-1] == rule_id.replace("-", "_")
    assert rule.title and rule.remediation and rule.resource_types
    assert rule.severity in ("low", "medium", "high", "critical")
    assert rule.enforcement in ("mandatory", "advisory")
    assert rule.frameworks and all(f in CONTROLS for f in rule.frameworks)
    entry = "check_stack" if rule.scope == "stack" else "check"
    assert callable(getattr(RULES[rule_id], entry))


def test_sovereignty_and_encryption_are_mandatory() -> None:
    for rule in (m.RULE for m in RULES.values()):
        if {"snc-location", "snc-encryption-at-rest"} & set(rule.frameworks):
            assert rule.enforcement == "mandatory", rule.id


def test_every_rule_is_in_the_pack() -> None:
    by_name = {p.name: p for p in POLICIES}
    assert set(by_name) == set(RULES)
    for rule_id, module in RULES.items():
        policy, rule = by_name[rule_id], module.RULE
        assert policy.enforcement_level is not None
        assert policy.enforcement_level.value == rule.enforcement
        assert policy.severity is not None and policy.severity.value == rule.severity
        assert policy.remediation_steps == rule.remediation
        assert policy.framework is not None and policy.framework.name
        keys = set(policy.config_schema.properties) if policy.config_schema else set()
        assert keys == set(rule.config)


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_rule_module_is_small_and_pure(rule_id: str) -> None:
    path = RULES_DIR / f"{rule_id.replace('-', '_')}.py"
    source = path.read_text()
    assert len(source.splitlines()) <= 70, f"{path.name}: move shared logic to policies/checks.py"
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    assert not names & {"print", "open", "input"}, f"{path.name}: a check only yields messages"
