"""The local cloud answers through its APIs and accepts every resource type the platform uses."""

from __future__ import annotations

import time

import pytest

from localcloud import cloud, confs, daemons
from localcloud.paths import Layout, state_dir
from tests.localcloud.conftest import probe

pytestmark = pytest.mark.cloud


def test_services_answer_with_a_token(local_cloud: dict[str, str]) -> None:
    got = probe(local_cloud, "services")
    assert got["identity"] is True
    assert got["compute"] >= 2  # hdh.small, hdh.medium
    assert got["image"] == "active"
    assert got["network"] is True
    assert "luks" in got["volume_types"]
    assert got["key-manager"] is True
    assert got["object-store"] in (200, 204)
    assert got["placement"] == 200


def test_up_again_does_nothing(local_cloud: dict[str, str]) -> None:
    before = daemons.running(Layout(state_dir()))
    t0 = time.monotonic()
    assert cloud.up() == local_cloud
    assert time.monotonic() - t0 < 30
    assert daemons.running(Layout(state_dir())) == before


def test_network_router_security_group_floating_ip(local_cloud: dict[str, str]) -> None:
    got = probe(local_cloud, "network")
    assert got["floating_ip"].startswith("203.0.113.")
    assert got["floating_ip_port"] is True  # associated with the port
    assert got["router_status"] == "ACTIVE"
    assert got["sg_rules"] == 1  # default egress rules deleted, one explicit ingress rule


def test_encrypted_volume(local_cloud: dict[str, str]) -> None:
    got = probe(local_cloud, "volume")
    assert got == {**got, "status": "available", "encrypted": True, "type": "luks"}


def test_boot_from_encrypted_volume(local_cloud: dict[str, str]) -> None:
    got = probe(local_cloud, "boot", "volume")  # a blank luks volume, then a server booting it
    assert got["status"] == "ACTIVE"
    assert got["volume_type"] == "luks"
    assert got["volume_encrypted"] is True


def test_boot_from_image_copied_into_encrypted_volume(local_cloud: dict[str, str]) -> None:
    got = probe(local_cloud, "boot", "image")  # what the platform's instances do
    assert got["status"] == "ACTIVE"
    assert got["volume_type"] == "luks"
    assert got["volume_encrypted"] is True
    assert got["bootable"] is True


def test_anti_affinity_one_server_per_host(local_cloud: dict[str, str]) -> None:
    hosts = confs.compute_hosts(cloud.DEFAULT_COMPUTES)
    got = probe(local_cloud, "anti-affinity", str(len(hosts)))
    assert got["active"] == len(hosts)  # one per fake compute host
    assert "ERROR" in got["extra"]  # one more than hosts: no valid host


def test_keypair(local_cloud: dict[str, str]) -> None:
    assert probe(local_cloud, "keypair")["fingerprint"] is True


def test_barbican_order_and_secret(local_cloud: dict[str, str]) -> None:
    got = probe(local_cloud, "secrets")
    assert got["order"] == "ACTIVE"
    assert got["order_secret"] is True
    assert got["secret"] is True
    assert got["left"] == []  # both secrets deleted, not just the order


def test_swift_versioned_private_container(local_cloud: dict[str, str]) -> None:
    got = probe(local_cloud, "swift")
    assert got["versions_enabled"] == "True"
    assert got["object_versions"] == 2
    assert got["read_acl"] is None
