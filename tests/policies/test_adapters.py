"""One rule implementation, every way in: the same fixtures through every adapter agree.

Plan JSON, stack export v3 (ciphertext and --show-secrets plaintext), preview --json, the Plan
object, and the analyzer's own gRPC servicer fed protobuf requests (what the engine sends, secrets
in their wire envelope) must all give identical findings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy import policy as sdk_policy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from hdh.plan import plan_stack
from policies.pack import PACK_NAME, POLICIES, keep_secret_envelopes
from policies.run import evaluate, policy_config
from tests.policies.formats import FORMATS, load, to_export

FIXTURES = sorted((Path(__file__).parent / "rules").glob("*/*.yaml"))
IDS = [f"{p.parent.name}/{p.stem}" for p in FIXTURES]
Key = tuple[str, str, str]


def keys(result: Any) -> set[Key]:
    return {(f.rule, f.resource_name, f.message) for f in result}


@pytest.mark.parametrize("path", FIXTURES, ids=IDS)
def test_every_format_gives_the_same_findings(path: Path) -> None:
    doc = load(path)
    found = {
        name: keys(evaluate(convert(doc), config=doc.get("config")))
        for name, convert in FORMATS.items()
    }
    reference = found["stack-export"]
    assert any(r for r, _, _ in reference), "a fixture must produce findings"
    for name, got in found.items():
        assert got == reference, f"{name} differs from stack-export: {got ^ reference}"


@pytest.fixture(scope="module")
def servicer() -> Iterator[_PolicyAnalyzerServicer]:
    saved = sdk_policy.deserialize_properties
    keep_secret_envelopes()  # what policies/__main__.py does in the pack process
    try:
        yield _PolicyAnalyzerServicer(PACK_NAME, "0.0.1", POLICIES, EnforcementLevel.MANDATORY)
    finally:
        sdk_policy.deserialize_properties = saved


def _wire(value: Any) -> Any:
    """Secrets as the engine marshals them to an analyzer: {sig: secret, value: plaintext}."""
    if isinstance(value, dict):
        if "ciphertext" in value or "plaintext" in value:
            return {k: v for k, v in value.items() if k != "plaintext"} | {
                "value": json.loads(value["plaintext"])
            }
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out


def analyzer_findings(servicer: _PolicyAnalyzerServicer, doc: dict[str, Any]) -> set[Key]:
    """Drive the analyzer exactly as the engine does: Configure, Analyze each, AnalyzeStack."""
    config = policy_config(doc.get("config"))
    servicer.Configure(
        proto.ConfigureAnalyzerRequest(
            policyConfig={
                name: proto.PolicyConfig(properties=_struct(c)) for name, c in config.items() if c
            }
        ),
        None,
    )
    deployment = to_export(doc, show_secrets=True)["deployment"]
    resources = [r for r in deployment["resources"] if r["type"] != "pulumi:pulumi:Stack"]
    by_urn = {r["urn"]: r for r in resources}
    found: set[Key] = set()

    def provider(r: dict[str, Any]) -> proto.AnalyzerProviderResource | None:
        p = by_urn.get(r["provider"].rsplit("::", 1)[0]) if r["provider"] else None
        if p is None:
            return None
        name = p["urn"].rsplit("::", 1)[-1]
        return proto.AnalyzerProviderResource(
            type=p["type"], properties=_struct(_wire(p["inputs"])), urn=p["urn"], name=name
        )

    def collect(response: Any, default_urn: str) -> None:
        for d in response.diagnostics:
            urn = d.urn or default_urn
            found.add((d.policyName, urn.rsplit("::", 1)[-1], d.message.split("\n", 1)[1]))

    for r in resources:
        request = proto.AnalyzeRequest(
            type=r["type"],
            properties=_struct(_wire(r["inputs"])),
            urn=r["urn"],
            name=r["urn"].rsplit("::", 1)[-1],
            provider=provider(r),
        )
        collect(servicer.Analyze(request, None), r["urn"])
    stack = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=r["type"],
                properties=_struct(_wire(r["outputs"])),
                urn=r["urn"],
                name=r["urn"].rsplit("::", 1)[-1],
                provider=provider(r),
                propertyDependencies={
                    k: proto.AnalyzerPropertyDependencies(urns=v)
                    for k, v in r["propertyDependencies"].items()
                },
            )
            for r in resources
        ]
    )
    collect(servicer.AnalyzeStack(stack, None), "")
    return found


@pytest.mark.parametrize("path", FIXTURES, ids=IDS)
def test_the_engine_analyzer_protocol_agrees(path: Path, servicer: _PolicyAnalyzerServicer) -> None:
    doc = load(path)
    expected = keys(evaluate(to_export(doc), config=doc.get("config")))
    assert analyzer_findings(servicer, doc) == expected


def test_plan_object_and_plan_json_agree() -> None:
    plan = plan_stack("ovh-gra")
    assert keys(evaluate(plan)) == keys(evaluate(json.loads(json.dumps(plan.to_json()))))


def test_secret_rule_sees_wire_secrets_only_with_envelopes_kept(
    servicer: _PolicyAnalyzerServicer,
) -> None:
    # Without keep_secret_envelopes the SDK unwraps secrets and a secret would look clear.
    doc = load(Path(__file__).parent / "rules" / "secret-plaintext-state" / "secrets.yaml")
    flagged = {name for rule, name, _ in analyzer_findings(servicer, doc) if rule.startswith("sec")}
    assert flagged == {r["name"] for r in doc["resources"] if r["name"].startswith("fail-")}
    assert json_format  # the wire helpers above are the SDK's own protobuf types
