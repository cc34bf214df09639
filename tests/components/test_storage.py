"""Encrypted volumes, Barbican keys, private containers (components/storage.py), on the plan."""

from __future__ import annotations

import pytest

from components.config import available_stacks, load_stack
from tests.components.conftest import of_type, planned

STACKS = available_stacks()


@pytest.mark.parametrize("stack", STACKS)
def test_every_volume_and_boot_disk_is_of_an_encrypted_type(stack: str) -> None:
    plan = planned(stack)
    encrypted = set(load_stack(stack).profile.encrypted_volume_types)
    for v in of_type(plan, "openstack:blockstorage/volume:Volume"):
        assert v.inputs.get("volumeType") in encrypted, v.urn
    instances = of_type(plan, "openstack:compute/instance:Instance")
    assert instances
    for i in instances:
        devices = i.inputs.get("blockDevices") or []
        assert devices, f"{i.urn}: boots on the hypervisor's local disk"
        for d in devices:
            assert d["destinationType"] == "volume", i.urn
            assert d["volumeType"] in encrypted, i.urn
        assert "adminPass" not in i.inputs, i.urn


def test_storage_keys_from_barbican_private_versioned_containers() -> None:
    plan = planned("ovh-gra")
    orders = of_type(plan, "pulumi-python:dynamic/keymanager:GeneratedKey")  # components/keys.py
    containers = of_type(plan, "openstack:objectstorage/container:Container")
    # One data store plus one per bubble, each with its own generated key.
    assert len(orders) == len(containers) == 1 + len(load_stack("ovh-gra").bubbles)
    for o in orders:
        assert o.inputs["type"] == "key" and o.inputs["meta"]["bit_length"] == 256
    assert not of_type(plan, "openstack:keymanager/secretV1:SecretV1")
    for c in containers:
        assert "containerRead" not in c.inputs, c.urn
        assert c.inputs["versioning"] is True, c.urn
