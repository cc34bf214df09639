"""`evaluate` under hostile documents: any shape, any unknown, never a traceback (issue 19)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from ground.errors import InputError
from policies.run import evaluate
from tests.policies.formats import FORMATS, load, to_export

FIXTURES = sorted((Path(__file__).parent / "rules").glob("*/*.yaml"))
DOCS = [load(p) for p in FIXTURES]
ODD = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.just(UNKNOWN_STRING_VALUE)
    | st.just("0.0.0.0/0")
    | st.just("[secret]"),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
    ),
    max_leaves=12,
)


def _mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """Replace some values anywhere in `value` by odd ones (wrong types, unknowns, lists...)."""
    if data.draw(st.integers(0, 4)) == 0:
        return data.draw(ODD)
    if isinstance(value, dict):
        return {k: _mutate(v, data, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_mutate(v, data, depth + 1) for v in value]
    return value


# No shrinking: the pack runs every rule per example; the failing document is printed as is.
@settings(max_examples=150, phases=[Phase.explicit, Phase.generate])
@given(doc=st.sampled_from(DOCS), fmt=st.sampled_from(sorted(FORMATS)), data=st.data())
def test_property_no_document_crashes_the_pack(doc: dict[str, Any], fmt: str, data: Any) -> None:
    hostile = copy.deepcopy(doc)
    for r in hostile["resources"]:
        r["props"] = _mutate(r.get("props") or {}, data)
    try:
        source = FORMATS[fmt](hostile)
    except (TypeError, KeyError, AttributeError):
        return  # the fixture converter itself cannot write this shape: not a pack question
    try:
        result = evaluate(json.loads(json.dumps(source)))
    except InputError:
        return
    for f in result.findings:
        assert isinstance(f.message, str) and f.message


def test_a_kubeconfig_output_in_clear_is_flagged() -> None:
    doc = to_export({"resources": []})
    root = doc["deployment"]["resources"][0]
    root["outputs"] = {
        "kubeconfig": "apiVersion: v1\nkind: Config\nusers: [{user: {token: abc}}]",
        "bastionAddress": "203.0.113.10",
        "inventory": {"bastion": {"address": "203.0.113.10"}, "hosts": []},
    }
    findings = evaluate(doc, only=["secret-plaintext-state"]).findings
    assert [f.message for f in findings] == [
        "stack output kubeconfig looks like a secret and is not one"
    ]
    root["outputs"]["kubeconfig"] = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "ciphertext": "v1:abc",
    }
    assert not evaluate(doc, only=["secret-plaintext-state"]).findings


def test_plan_outputs_are_judged_and_the_platform_passes() -> None:
    from hdh.plan import plan_stack

    plan = plan_stack("ovh-sbg")  # kubeadm: the kubeconfig output is a secret
    assert "kubeconfig" in plan.outputs
    assert not evaluate(plan, only=["secret-plaintext-state"]).findings
    doc = plan.to_json()
    doc["outputs"]["kubeconfig"] = "apiVersion: v1\nusers: [{user: {client-key-data: AAAA}}]"
    (finding,) = evaluate(doc, only=["secret-plaintext-state"]).findings
    assert finding.type == "pulumi:pulumi:Stack"


@pytest.mark.parametrize("stack", ["ovh-gra", "ovh-sbg", "scs-de", "local"])
def test_committed_stacks_pass_with_nothing_undetermined(stack: str) -> None:
    from hdh.plan import plan_stack

    result = evaluate(plan_stack(stack))
    assert not result.findings and not result.undetermined


def test_a_stack_rule_judges_the_others_when_one_resource_is_unknown() -> None:
    """Preview: one pod's spec holds an unknown value; the other pod is still judged."""
    from tests.policies.formats import to_preview

    pod = "kubernetes:core/v1:Pod"
    doc = {
        "resources": [
            {"name": "cm", "type": "kubernetes:core/v1:ConfigMap", "props": {}},
            {
                "name": "pod-unknown",
                "type": pod,
                "props": {
                    "metadata": {"namespace": "bubble-a"},
                    "spec": {"nodeName": {"!ref": "cm"}},
                },
            },
            {
                "name": "pod-token",
                "type": pod,
                "props": {
                    "metadata": {"namespace": "bubble-a"},
                    "spec": {"automountServiceAccountToken": True, "containers": [{"name": "a"}]},
                },
            },
        ]
    }
    result = evaluate(to_preview(doc), only=["k8s-no-service-account-token"])
    assert [f.resource_name for f in result.findings] == ["pod-token"]
    assert [u.urn.rsplit("::", 1)[-1] for u in result.undetermined] == ["pod-unknown"]
