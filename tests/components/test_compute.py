"""Instances, cloud-init and server groups (components/compute.py), on the plan."""

from __future__ import annotations

import yaml

from components.config import load_stack
from tests.components.conftest import of_type, planned


def test_cloud_init_has_a_key_and_no_password() -> None:
    plan = planned("ovh-gra")
    key = load_stack("ovh-gra").settings.ssh_public_key
    for i in of_type(plan, "openstack:compute/instance:Instance"):
        doc = yaml.safe_load(i.inputs["userData"])
        assert doc["ssh_pwauth"] is False and doc["disable_root"] is True
        (user,) = doc["users"]
        assert user["lock_passwd"] is True and user["ssh_authorized_keys"] == [key]
        assert "passwd" not in user and "plain_text_passwd" not in user
    (kp,) = of_type(plan, "openstack:compute/keypair:Keypair")
    assert kp.inputs["publicKey"] == key


def test_ha_services_are_anti_affine() -> None:
    plan = planned("ovh-gra")
    (group,) = of_type(plan, "openstack:compute/serverGroup:ServerGroup")
    assert group.inputs["policies"] == "anti-affinity"
    gid = group.id
    services = [
        i for i in of_type(plan, "openstack:compute/instance:Instance") if "services" in i.name
    ]
    assert len(services) == 2
    for s in services:
        assert s.inputs["schedulerHints"] == [{"group": gid}], s.urn
