"""The whole platform (components/platform.py, components/program.py): provider, labels."""

from __future__ import annotations

import pytest

from components.config import available_stacks, load_stack
from hdh.plan import PlannedResource
from tests.components.conftest import by_urn, of_type, planned

OS = "openstack:"
STACKS = available_stacks()


def _provider_urn(r: PlannedResource) -> str:
    return r.provider.rsplit("::", 1)[0]


@pytest.mark.parametrize("stack", STACKS)
def test_every_openstack_resource_uses_the_region_pinned_provider(stack: str) -> None:
    plan = planned(stack)
    cfg = load_stack(stack)
    providers = of_type(plan, "pulumi:providers:openstack")
    assert len(providers) == 1
    prov = providers[0]
    assert prov.inputs["region"] == cfg.region
    assert prov.inputs.get("authUrl") == cfg.auth_url
    for r in plan.resources:
        if r.type.startswith(OS):
            assert _provider_urn(r) == prov.urn, f"{r.urn}: not under {prov.urn}"


@pytest.mark.parametrize("stack", STACKS)
def test_labels_on_everything_that_takes_them(stack: str) -> None:
    plan = planned(stack)
    tree = by_urn(plan)
    for r in plan.resources:
        if "tags" in r.inputs:
            keys = {t.split("=")[0] for t in r.inputs["tags"]}
            assert {"stack", "tier", "classification"} <= keys, r.urn
        if r.type == "openstack:compute/instance:Instance":
            meta = r.inputs["metadata"]
            assert meta["stack"] == stack and meta["tier"] and meta["classification"], r.urn
            parent = tree[r.parent]
            if parent.name.startswith("bubble-"):
                assert meta["bubble"] and meta["role"] == "workspace", r.urn
    for t in ("network:Network", "subnet:Subnet", "port:Port", "secGroup:SecGroup"):
        for r in of_type(plan, f"openstack:networking/{t}"):
            assert "tags" in r.inputs, r.urn
