"""Register the local cloud's identity and base resources in one process (run by /usr/bin/python3).

This file runs under Debian's system Python, where openstacksdk lives (not the project venv): it
imports nothing from `hdh`. Input: a JSON document on stdin. Every step is find-or-create.
    /usr/bin/python3 bootstrap.py identity|resources < spec.json
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import openstack  # Debian's python3-openstacksdk

log = logging.getLogger("localcloud.bootstrap")

IMAGE_KEY = "hdh-local-image-key"  # the images' LUKS keys (the leftovers check skips them)
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


# Guests as small as a Debian 12 server with cloud-init allows under QEMU/TCG: every role of
# the local profile takes hdh.small. The virtio RNG feeds the guests' early entropy.
FLAVORS = (("hdh.small", 1, 512, 10), ("hdh.medium", 2, 2048, 20))


def _flavors(conn: Any) -> None:
    for name, vcpus, ram, disk in FLAVORS:
        flavor = conn.compute.find_flavor(name)
        if flavor is not None and (flavor.ram, flavor.vcpus) != (ram, vcpus):
            conn.compute.delete_flavor(flavor)  # sizes are immutable: replace (servers keep theirs)
            flavor = None
        if flavor is None:
            flavor = conn.compute.create_flavor(
                name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True
            )
            conn.compute.create_flavor_extra_specs(flavor, {"hw_rng:allowed": "True"})


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


def _image_key(conn: Any, key: bytes) -> str:
    """A Barbican secret of the platform's project holding an image's LUKS key; its id.

    The platform user's token is what Cinder uses to clone the key into each new volume.
    """
    secret = conn.key_manager.create_secret(
        name=IMAGE_KEY,
        secret_type="symmetric",
        algorithm="aes",
        bit_length=256,
        mode="xts",
        payload=base64.b64encode(key).decode(),
        payload_content_type="application/octet-stream",
        payload_content_encoding="base64",
    )
    return str(secret.secret_ref.rsplit("/", 1)[1])


def _encrypt(spec: dict[str, Any], key: bytes, root: str | None, out: Path) -> None:
    """A LUKS container (aes-xts-plain64, 256 bits) of the root filesystem, or an empty 16 MiB one.

    Nova and os-brick open a LUKS volume with the hex form of its key as the passphrase. The
    passphrase goes to qemu-img in a 0600 file, never on a command line.
    """
    pw_file = out.with_suffix(".key")
    fd = os.open(pw_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(binascii.hexlify(key).decode())
    opts = "key-secret=sec0,cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64"
    secret = f"secret,id=sec0,file={pw_file}"
    try:
        if root:
            argv = ["convert", "-f", "raw", "-O", "luks", "--object", secret, "-o", opts, root]
            subprocess.run([spec["qemu_img"], *argv, str(out)], check=True, capture_output=True)
        else:
            argv = ["create", "-f", "luks", "--object", secret, "-o", opts, str(out), "16M"]
            subprocess.run([spec["qemu_img"], *argv], check=True, capture_output=True)
    finally:
        pw_file.unlink(missing_ok=True)


def _upload(conn: Any, attrs: dict[str, Any], path: Path) -> str:
    """Create a public image with `attrs`, upload `path`, wait until active; its id."""
    img = conn.image.post("/images", json={**attrs, "visibility": "public"}, raise_exc=True)
    image_id = str(img.json()["id"])
    with open(path, "rb") as fh:
        conn.image.put(
            f"/images/{image_id}/file",
            data=fh,
            headers={"Content-Type": "application/octet-stream"},
            raise_exc=True,
        )
    deadline = time.monotonic() + 300
    while conn.image.get_image(image_id).status != "active":
        if time.monotonic() > deadline:
            raise SystemExit(f"image {image_id} not active after 300 s")
        time.sleep(1)
    return image_id


def _current(spec: dict[str, Any], img: Any) -> bool:
    """Whether a registered image is this recipe's and its LUKS key is still in Barbican."""
    props = img.properties or {}
    if img.status != "active" or props.get("hdh_image_digest") != spec["image"]["digest"]:
        return False
    key_id = props.get("cinder_encryption_key_id")
    # Listed, not fetched: this openstacksdk's get_secret answers without asking Barbican.
    refs = (x.secret_ref or "" for x in _platform(spec).key_manager.secrets())
    return bool(key_id) and key_id in {ref.rstrip("/").rsplit("/", 1)[-1] for ref in refs}


def _image(conn: Any, spec: dict[str, Any]) -> None:
    """Exactly one public image named `Debian 12`, this recipe's: the profile's image.

    Its content is a LUKS container keyed by a Barbican secret (`cinder_encryption_key_id`):
    Cinder copies such an image as is into a new volume of the encrypted type and clones the key.
    A plain image would be encrypted on the fly through os-brick's dm-crypt encryptor, which this
    kernel cannot run. Real guests boot their kernel directly (kernel_id, ramdisk_id,
    os_command_line): the root filesystem has no partition table and no boot loader.
    """
    want = spec["image"]
    named = [i for i in conn.image.images() if i.name == want["name"]]
    if any(_current(spec, i) for i in named):
        _retire(conn, spec, [i for i in named if not _current(spec, i)])
        return
    platform = _platform(spec)
    key = secrets.token_bytes(32)
    key_id = _image_key(platform, key)
    work = Path(spec["work_dir"])
    luks = work / f"image-{want['digest']}.luks"
    attrs: dict[str, Any] = {
        "name": want["name"],
        "disk_format": "raw",
        "container_format": "bare",
        "os_distro": "debian",
        "os_version": "12",
        "hdh_image_digest": want["digest"],
        "cinder_encryption_key_id": key_id,
        "cinder_encryption_key_deletion_policy": "do_not_delete",
    }
    if want.get("kernel"):
        tag = f"{want['name']} {want['digest']}"
        # Raw, not aki/ari: this Nova's deep image inspection (nova.virt.images) returns aki as
        # the format to expect, then refuses the file qemu-img reads as raw.
        kernel = {"name": f"{tag} kernel", "disk_format": "raw", "container_format": "bare"}
        ramdisk = {"name": f"{tag} initrd", "disk_format": "raw", "container_format": "bare"}
        attrs |= {
            "kernel_id": _upload(conn, kernel, Path(want["kernel"])),
            "ramdisk_id": _upload(conn, ramdisk, Path(want["initrd"])),
            "os_command_line": want["cmdline"],
            "hw_disk_bus": "virtio",
            "hw_qemu_guest_agent": "yes",
            "hw_rng_model": "virtio",
            "img_config_drive": "mandatory",
            "min_disk": want["min_disk"],
        }
    else:
        attrs["hdh_placeholder"] = "true"  # the fake driver boots nothing
    try:
        _encrypt(spec, key, want.get("root"), luks)
        _upload(conn, attrs, luks)
    finally:
        luks.unlink(missing_ok=True)
    _retire(conn, spec, named)
    log.info("image %s (%s) registered", want["name"], want["digest"])


def _retire(conn: Any, spec: dict[str, Any], images: list[Any]) -> None:
    """Delete superseded images, their kernel and initrd, and their keys (volumes keep clones)."""
    platform = _platform(spec)
    for img in images:
        props = img.properties or {}
        for dep in (props.get("kernel_id"), props.get("ramdisk_id")):
            if dep:
                conn.image.delete_image(dep, ignore_missing=True)
        if props.get("cinder_encryption_key_id"):
            with contextlib.suppress(openstack.exceptions.SDKException):
                platform.key_manager.delete_secret(props["cinder_encryption_key_id"])
        conn.image.delete_image(img, ignore_missing=True)


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
