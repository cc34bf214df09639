"""The services tier in what a stack builds: security groups open exactly its flows (the same the
host firewalls open, hardening/data/services_tier.yaml), and the inventory output wires it."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import load_stack
from ground.errors import ConfigErrors
from hardening import tier
from hdh.plan import plan_stack
from tests.components.conftest import of_type, planned

RULE = "openstack:networking/secGroupRule:SecGroupRule"
SG = "openstack:networking/secGroup:SecGroup"


def _rules(stack: str) -> set[tuple[Any, ...]]:
    """(group, direction, protocol, port, remote group or prefix) of every rule of the stack."""
    plan = planned(stack)
    names = {g.id: g.name.removeprefix("hdh-").removesuffix("-sg") for g in of_type(plan, SG)}
    out = set()
    for r in of_type(plan, RULE):
        i = r.inputs
        remote = names.get(str(i.get("remoteGroupId")), i.get("remoteIpPrefix"))
        out.add(
            (names[i["securityGroupId"]], i["direction"], i.get("protocol"), i.get("portRangeMin"),
             remote)
        )  # fmt: skip
    return out


@pytest.mark.parametrize("stack", ["ovh-gra", "local"])
def test_security_groups_open_exactly_the_services_flows(stack: str) -> None:
    cfg = load_stack(stack)
    ports = {
        "proxy": cfg.settings.proxy_port,
        "cache": cfg.settings.services.cache_port,
        "log": cfg.settings.services.log_port,
        "metrics": cfg.settings.services.metrics_port,
    }
    rules = _rules(stack)
    # Every flow of the data, in both groups' terms.
    for f in tier.settings()["flows"]:
        port = ports[f["port"]] if isinstance(f["port"], str) else f["port"]
        if f["to"] == "services":
            assert ("services", "ingress", f["proto"], port, "proxy-clients") in rules, f
            assert ("proxy-clients", "egress", f["proto"], port, "services") in rules, f
        else:  # metrics: from the services hosts to every host (managed, or the bastion)
            for target in ("managed", "bastion"):
                assert (target, "ingress", f["proto"], port, "services") in rules, f
                assert ("services", "egress", f["proto"], port, target) in rules, f
    # ... and nothing else into the services hosts.
    into_services = {r for r in rules if r[0] == "services" and r[1] == "ingress"}
    assert into_services == {
        ("services", "ingress", f["proto"], ports.get(f["port"], f["port"]), "proxy-clients")
        for f in tier.settings()["flows"]
        if f["to"] == "services"
    }
    # Into every other host: SSH from the bastion and metrics from the services hosts only.
    assert {r for r in rules if r[0] == "managed" and r[1] == "ingress"} == {
        ("managed", "ingress", "tcp", 22, "bastion"),
        ("managed", "ingress", "tcp", ports["metrics"], "services"),
    }


def test_every_host_using_the_services_tier_can_reach_it() -> None:
    plan = plan_stack("ovh-gra", overrides={"hdh:kubernetes": '{"enabled": true}'})
    groups = {g.id: g.name for g in of_type(plan, SG)}
    clients = next(i for i, n in groups.items() if n == "hdh-proxy-clients-sg")
    services = next(i for i, n in groups.items() if n == "hdh-services-sg")
    for port in of_type(plan, "openstack:networking/port:Port"):
        ids = set(port.inputs.get("securityGroupIds") or [])
        if not ids or port.name.startswith("hdh-core-") or "k8s-api" in port.name:
            continue
        assert clients in ids or services in ids, f"{port.name}: cut off from the services tier"


def test_the_inventory_output_carries_the_services_tier() -> None:
    inv: dict[str, Any] = plan_stack("ovh-gra").outputs["inventory"]
    s = inv["services"]
    assert inv["stack"] == s["stack"] == "ovh-gra"
    assert (s["proxyPort"], s["cachePort"], s["logPort"], s["metricsPort"]) == (
        3128, 3142, 6514, 9100
    )  # fmt: skip
    cfg = load_stack("ovh-gra")
    t = cfg.settings.tiers
    assert s["clientNetworks"][:3] == [str(t.admin), str(t.data), str(t.processing)]
    assert str(cfg.settings.bubble_pool.cidr) in s["clientNetworks"]  # type: ignore[union-attr]
    assert str(t.services) not in s["clientNetworks"]
    # The provider's endpoints, from the profile and its identity URL.
    assert ".cloud.ovh.net" in s["egressAllow"] and "auth.cloud.ovh.net" in s["egressAllow"]
    assert [h["role"] for h in inv["hosts"]].count("services") == 2
    # What hardening checks of it passes (addresses are known after creation only).
    for i, h in enumerate(inv["hosts"]):
        h["address"] = f"10.0.0.{i + 1}"
    assert tier.check_inventory("outputs.json", inv) == []


CASES = [
    ("egress-entry", {"egressAllow": ['x.org"; allow all']}, "hdh:services.egressAllow"),
    ("egress-cidr", {"egressAllow": ["10.0.0.0/33"]}, "hdh:services.egressAllow"),
    ("port-range", {"logPort": 0}, "hdh:services.logPort"),
    ("port-taken", {"metricsPort": 22}, "hdh:services.metricsPort"),
    ("port-twice", {"cachePort": 3128}, "hdh:services.cachePort"),
    ("unknown-key", {"colour": "blue"}, "hdh:services.colour"),
]


@pytest.mark.parametrize(("case", "services", "key"), CASES, ids=[c[0] for c in CASES])
def test_bad_services_config_names_the_key(
    case: str, services: dict[str, Any], key: str, edited_stack: Any
) -> None:
    path = edited_stack(lambda c: c.__setitem__("hdh:services", services))
    with pytest.raises(ConfigErrors) as err:
        load_stack("ovh-gra", path)
    assert any(e.key == key for e in err.value.errors), err.value.lines()


def test_bad_backups_config_names_the_key(edited_stack: Any) -> None:
    path = edited_stack(
        lambda c: c.__setitem__("hdh:backups", {"keepDaily": 0, "schedule": "daily; rm -rf /"})
    )
    with pytest.raises(ConfigErrors) as err:
        load_stack("ovh-gra", path)
    keys = {e.key for e in err.value.errors}
    assert {"hdh:backups.keepDaily", "hdh:backups.schedule"} <= keys


@pytest.mark.parametrize("stack", ["ovh-gra", "local"])
def test_the_backup_credential_can_do_its_job_and_no_more(stack: str) -> None:
    """Block storage rules for its backups, and for Cinder backups the key manager calls Cinder
    makes with the job's token to clone an encrypted volume's key (found on the local cloud:
    without them every backup of a `luks` volume ended in error)."""
    (cred,) = of_type(
        planned(stack), "openstack:identity/applicationCredential:ApplicationCredential"
    )
    assert cred.inputs["unrestricted"] is False and len(cred.inputs["roles"]) == 1
    rules = {(r["service"], r["method"], r["path"]) for r in cred.inputs["accessRules"]}
    assert ("volumev3", "POST", "/v3/*/backups") in rules
    assert ("key-manager", "GET", "/v1/secrets/*/payload") in rules
    services = {s for s, _, _ in rules}
    assert services == {"volumev3", "key-manager"}
    assert not any("**" in p or p.endswith("/*/*") for _, _, p in rules)
    # No other API, no order, no container, no listing of every secret.
    assert not any(
        s == "key-manager" and p in ("/v1/orders", "/v1/containers") for s, _, p in rules
    )
    assert ("key-manager", "GET", "/v1/secrets") not in rules
