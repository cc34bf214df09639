"""Every OpenStack type of the installed pulumi-openstack is classified, and the data holds.

The list comes from the installed SDK (the type tokens its __init__ registers), so upgrading
pulumi-openstack with a new type fails here until someone classifies it in policies/types.yaml.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pulumi_openstack
import pytest

from policies.classification import classification
from policies.pack import RULES

UNIVERSAL = {"resource-region-eu", "resource-type-refused", "classification-tag"}


def installed_types() -> set[str]:
    """Type tokens registered by the installed pulumi_openstack (its resource_modules JSON)."""
    source = Path(pulumi_openstack.__file__).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "register":
            for kw in node.keywords:
                value = kw.value
                if kw.arg == "resource_modules" and isinstance(value, ast.Constant):
                    modules = json.loads(str(value.value))
                    return {t for m in modules for t in m["classes"]}
    raise AssertionError("pulumi_openstack no longer registers resource_modules")


def test_every_installed_type_is_classified() -> None:
    types = installed_types()
    assert len(types) >= 114  # pulumi-openstack 5.5.1's schema has 114
    missing = sorted(types - set(classification()))
    assert not missing, f"classify in policies/types.yaml: {missing}"


def test_no_stale_entries() -> None:
    stale = set(classification()) - installed_types() - {"pulumi:providers:openstack"}
    assert not stale, f"no longer in pulumi-openstack: {sorted(stale)}"


@pytest.mark.parametrize("typ", sorted(classification()))
def test_verdicts_are_backed_by_rules(typ: str) -> None:
    v = classification()[typ]
    rules = {rid for rid, m in RULES.items() if m.RULE.applies(typ) or typ in m.RULE.reads}
    assert v.why, f"{typ}: say why"
    if v.verdict == "judged":
        # Judged means a rule of its own looks at it, beyond the rules every type gets.
        assert rules - UNIVERSAL, f"{typ} is marked judged but no specific rule applies"
    elif v.verdict == "irrelevant":
        assert not rules - UNIVERSAL, f"{typ} is irrelevant but rules {rules - UNIVERSAL} judge it"


def test_an_unclassified_type_is_refused() -> None:
    from policies.run import evaluate
    from tests.policies.formats import to_export

    doc = {"resources": [{"name": "x", "type": "openstack:next/thing:Thing", "props": {}}]}
    (finding,) = evaluate(to_export(doc), only=["resource-type-refused"])
    assert "not classified" in finding.message
