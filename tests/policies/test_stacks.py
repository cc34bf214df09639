"""Every committed stack's clean plan has no mandatory violation, and the pack can still fail it."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.config import available_stacks
from hdh.plan import plan_stack
from policies.run import evaluate


@pytest.mark.parametrize("stack", available_stacks())
def test_committed_stack_plan_is_clean(stack: str) -> None:
    result = evaluate(plan_stack(stack))
    assert not result.mandatory, [f"{f.rule}: {f.urn}: {f.message}" for f in result.mandatory]
    assert not result.undetermined
    assert result.resources > 50


def test_pack_blocks_a_plan_the_model_accepts() -> None:
    # The config model accepts any EU region of the profile; narrowing the security team's
    # allow-list makes the very same plan fail on its provider (the rule, not the model, blocks).
    plan = plan_stack("ovh-gra")
    result = evaluate(plan, config={"allowedRegions": ["SBG5"]})
    assert {(f.rule, f.type) for f in result.mandatory} == {
        ("provider-region-eu", "pulumi:providers:openstack"),
        # The platform's own Barbican keys are ordered in the stack's region: judged too.
        ("resource-region-eu", "pulumi-python:dynamic/keymanager:GeneratedKey"),
    }


def test_local_test_region_needs_its_loopback_endpoint() -> None:
    # RegionOne is also the SCS example's EU region; without it, the local stack passes only
    # because its provider's authUrl is loopback (testOnly profile), as docs/policies.md says.
    plan = plan_stack("local")
    assert not evaluate(plan, config={"allowedRegions": ["GRA11"]}).mandatory
    doc = plan.to_json()
    for r in doc["resources"]:
        if r["type"] == "pulumi:providers:openstack":
            r["inputs"]["authUrl"] = "https://keystone.example.eu/v3"
    rules = {f.rule for f in evaluate(doc, config={"allowedRegions": ["GRA11"]}).mandatory}
    assert rules == {"provider-region-eu"}


def test_the_judge_does_not_read_the_stack_it_judges(tmp_path: Path) -> None:
    """A stack opening the bastion to a range the security team did not list fails the pack,
    even though the config model accepts the range: allow-lists come from reviewed data."""
    import yaml

    from components.config import stack_path

    doc = yaml.safe_load(stack_path("ovh-gra").read_text())
    doc["config"]["hdh:adminCidrs"] = ["198.51.100.0/24"]
    path = tmp_path / "Pulumi.ovh-gra.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = evaluate(plan_stack("ovh-gra", path=path))
    assert {(f.rule, f.resource_name) for f in result.mandatory} == {
        ("secgroup-ingress-restricted", "hdh-bastion-ssh-admin-0")
    }
    assert "not in bastionCidrs" in result.mandatory[0].message


def test_pack_defaults_read_no_stack_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pack's defaults come from profiles and policies/defaults.yaml, never a stack."""
    from policies import config

    read: list[str] = []
    for method in ("read_text", "read_bytes"):
        original = getattr(Path, method)

        def spy(self: Path, *a: object, _orig: object = original, **k: object) -> object:
            read.append(self.name)
            return _orig(self, *a, **k)  # type: ignore[operator]

        monkeypatch.setattr(Path, method, spy)
    config.defaults.cache_clear()
    for cached in ("_pack_defaults", "catalogue"):
        if hasattr(getattr(config, cached, None), "cache_clear"):
            getattr(config, cached).cache_clear()
    try:
        config.defaults()
    finally:
        config.defaults.cache_clear()
    assert read and not [n for n in read if n.startswith("Pulumi.")], read
