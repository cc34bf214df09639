"""Register the local cloud's identity and base resources in one process (run by /usr/bin/python3).

This file runs under Debian's system Python, where openstacksdk lives (not the project venv): it
imports nothing from `hdh`. Input: a JSON document on stdin. Every step is find-or-create.
    /usr/bin/python3 bootstrap.py identity|resources < spec.json
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import subprocess
import sys
import time
from typing import Any

import openstack  # Debian's python3-openstacksdk

log = logging.getLogger("localcloud.bootstrap")

K = "http://127.0.0.1"
ENDPOINTS = {  # service type: (name, URL)
    "image": ("glance", f"{K}:9292"),
    "placement": ("placement", f"{K}:8778"),
    "compute": ("nova", f"{K}:8774/v2.1"),
    "network": ("neutron", f"{K}:9696"),
    "key-manager": ("barbican", f"{K}:9311"),
    "object-store": ("swift", f"{K}:8080/v1/AUTH_%(project_id)s"),
    "volumev3": ("cinderv3", f"{K}:8776/v3/%(project_id)s"),
    "block-storage": ("cinder", f"{K}:8776/v3/%(project_id)s"),
}


def admin(spec: dict[str, Any]) -> Any:
    return openstack.connect(
        auth_url=spec["auth_url"],
        username="admin",
        password=spec["passwords"]["admin"],
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=spec["region"],
        identity_api_version="3",
    )


def _role(conn: Any, name: str) -> Any:
    return conn.identity.find_role(name) or conn.identity.create_role(name=name)


def _project(conn: Any, name: str, description: str) -> Any:
    found = conn.identity.find_project(name, domain_id="default")
    return found or conn.identity.create_project(
        name=name, domain_id="default", description=description
    )


def _user(conn: Any, name: str, password: str, project: Any) -> Any:
    user = conn.identity.find_user(name, domain_id="default")
    if user is None:
        return conn.identity.create_user(
            name=name, password=password, domain_id="default", default_project_id=project.id
        )
    # A state directory that was wiped while the database survived gets new passwords.
    conn.identity.update_user(user, password=password)
    return user


def identity(spec: dict[str, Any]) -> None:
    conn = admin(spec)
    service = _project(conn, "service", "OpenStack service users")
    platform = _project(conn, spec["project"], "hdh-platform local stack")
    roles = {n: _role(conn, n) for n in ("admin", "member", "reader", "service", "creator")}
    for name in spec["service_users"]:
        user = _user(conn, name, spec["passwords"][name], service)
        for role in ("admin", "service"):
            conn.identity.assign_project_role_to_user(service, user, roles[role])
    user = _user(conn, spec["user"], spec["passwords"][spec["user"]], platform)
    for role in ("member", "creator", "reader"):
        conn.identity.assign_project_role_to_user(platform, user, roles[role])
    adm = conn.identity.find_user("admin", domain_id="default")
    conn.identity.assign_project_role_to_user(platform, adm, roles["admin"])
    region = spec["region"]
    services = {s.type: s for s in conn.identity.services()}
    have = {(e.service_id, e.interface) for e in conn.identity.endpoints()}
    for stype, (name, url) in ENDPOINTS.items():
        svc = services.get(stype) or conn.identity.create_service(name=name, type=stype)
        for iface in ("public", "internal", "admin"):
            if (svc.id, iface) not in have:
                conn.identity.create_endpoint(
                    service_id=svc.id, interface=iface, url=url, region_id=region
                )
    log.info("identity: %d service users, %d services", len(spec["service_users"]), len(ENDPOINTS))


def _flavors(conn: Any) -> None:
    for name, vcpus, ram, disk in (("hdh.small", 1, 1024, 10), ("hdh.medium", 2, 2048, 20)):
        if conn.compute.find_flavor(name) is None:
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)


def _platform(spec: dict[str, Any]) -> Any:
    return openstack.connect(
        auth_url=spec["auth_url"],
        username=spec["user"],
        password=spec["passwords"][spec["user"]],
        project_name=spec["project"],
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=spec["region"],
        identity_api_version="3",
    )


def _luks_image(spec: dict[str, Any]) -> tuple[str, str]:
    """An encrypted placeholder image: a LUKS container whose key is a Barbican secret.

    Cinder copies such an image byte for byte into a volume of an encrypted type and clones
    its key (`cinder_encryption_key_id`), the path Cinder itself uses for images uploaded from
    encrypted volumes. The other path, a plain image encrypted on the fly, goes through os-brick's
    LUKS encryptor and needs dm-crypt, which this kernel lacks. The secret lives in the
    platform's project, so the platform user (whose token Cinder uses) can read it.
    """
    conn = _platform(spec)
    key = secrets.token_bytes(32)
    secret = conn.key_manager.create_secret(
        name="hdh-local-image-key",
        secret_type="symmetric",
        algorithm="aes",
        bit_length=256,
        mode="xts",
        payload=base64.b64encode(key).decode(),
        payload_content_type="application/octet-stream",
        payload_content_encoding="base64",
    )
    secret_id = secret.secret_ref.rsplit("/", 1)[1]
    path = spec["image_file"]
    # Nova and os-brick open a LUKS volume with the hex form of its key as the passphrase.
    subprocess.run(
        [
            spec["qemu_img"],
            "create",
            "-f",
            "luks",
            "--object",
            f"secret,id=sec0,data={binascii.hexlify(key).decode()}",
            "-o",
            "key-secret=sec0,cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64",
            path,
            "16M",
        ],
        check=True,
        capture_output=True,
    )
    return secret_id, path


def _image_key_exists(spec: dict[str, Any], img: Any) -> bool:
    """Whether the placeholder image's LUKS key is still in Barbican (platform's project)."""
    key_id = (img.properties or {}).get("cinder_encryption_key_id")
    if not key_id:
        return False
    # Listed, not fetched: this openstacksdk's get_secret answers without asking Barbican.
    refs = (x.secret_ref or "" for x in _platform(spec).key_manager.secrets())
    return key_id in {ref.rstrip("/").rsplit("/", 1)[-1] for ref in refs}


def _image(conn: Any, spec: dict[str, Any]) -> None:
    image_id = spec["image_id"]
    img = conn.image.find_image(image_id)
    if img is not None and img.status == "active":
        if _image_key_exists(spec, img):
            return
        # Its key is gone (Barbican's database was replaced): no volume can be made from it, and
        # Glance never gives a deleted image's id back, so the state must start afresh.
        raise SystemExit(
            f"image {image_id}: its LUKS key is no longer in Barbican; run `hdh cloud "
            "down`, remove the state directory and `up` again"
        )
    secret_id, path = _luks_image(spec)
    if img is None:
        conn.image.post(
            "/images",
            json={
                "id": image_id,
                "name": spec["image_name"],
                "disk_format": "raw",
                "container_format": "bare",
                "visibility": "public",
                "os_distro": "debian",
                "os_version": "12",
                "hdh_placeholder": "true",
                "cinder_encryption_key_id": secret_id,
                "cinder_encryption_key_deletion_policy": "do_not_delete",
            },
            raise_exc=True,
        )
    with open(path, "rb") as fh:
        conn.image.put(
            f"/images/{image_id}/file",
            data=fh,
            headers={"Content-Type": "application/octet-stream"},
            raise_exc=True,
        )
    deadline = time.monotonic() + 120
    while conn.image.get_image(image_id).status != "active":
        if time.monotonic() > deadline:
            raise SystemExit(f"image {image_id} not active after 120 s")
        time.sleep(1)


def _volume_type(conn: Any) -> None:
    vtype = conn.block_storage.find_type("luks")
    if vtype is None:
        vtype = conn.block_storage.create_type(
            name="luks", description="[scs:encrypted] LUKS, keys in Barbican", is_public=True
        )
    if conn.block_storage.get_type_encryption(vtype.id).provider is None:
        conn.block_storage.create_type_encryption(
            vtype,
            provider="luks",
            cipher="aes-xts-plain64",
            key_size=256,
            control_location="front-end",
        )


def _public_network(conn: Any, spec: dict[str, Any]) -> None:
    net = conn.network.find_network("public")
    if net is None:
        net = conn.network.create_network(
            name="public",
            is_router_external=True,
            provider_network_type="flat",
            provider_physical_network="physnet1",
            shared=False,
        )
    if not list(conn.network.subnets(network_id=net.id)):
        cidr = spec["public_cidr"]
        base = cidr.rsplit(".", 1)[0]
        conn.network.create_subnet(
            name="public-subnet",
            network_id=net.id,
            ip_version=4,
            cidr=cidr,
            gateway_ip=f"{base}.1",
            enable_dhcp=False,
            allocation_pools=[{"start": f"{base}.10", "end": f"{base}.250"}],
        )


def _quotas(conn: Any, spec: dict[str, Any]) -> None:
    """No quota on the platform's project: the benchmark creates 50 bubbles."""
    project = conn.identity.find_project(spec["project"], domain_id="default")
    conn.set_compute_quotas(
        project.id,
        instances=-1,
        cores=-1,
        ram=-1,
        key_pairs=-1,
        server_groups=-1,
        server_group_members=-1,
    )
    conn.set_network_quotas(
        project.id,
        network=-1,
        subnet=-1,
        router=-1,
        port=-1,
        floatingip=-1,
        security_group=-1,
        security_group_rule=-1,
    )
    conn.set_volume_quotas(project.id, volumes=-1, gigabytes=-1, snapshots=-1)


def resources(spec: dict[str, Any]) -> None:
    conn = admin(spec)
    _flavors(conn)
    _volume_type(conn)
    _public_network(conn, spec)
    _image(conn, spec)
    _quotas(conn, spec)
    log.info("resources: flavors, image, luks type, public network, quotas")


def wait_computes(spec: dict[str, Any], timeout: float = 240) -> None:
    """Wait until Nova lists every fake compute service as up."""
    conn = admin(spec)
    deadline = time.monotonic() + timeout
    want = set(spec["compute_hosts"])
    while True:
        up = {
            s.host
            for s in conn.compute.services(binary="nova-compute")
            if s.state == "up" and s.status == "enabled"
        }
        if want <= up:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"compute services not up after {timeout:.0f} s: {want - up}")
        time.sleep(2)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    spec = json.load(sys.stdin)
    {"identity": identity, "resources": resources, "wait-computes": wait_computes}[sys.argv[1]](
        spec
    )


if __name__ == "__main__":
    main()
