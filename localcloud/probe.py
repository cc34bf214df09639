"""Create and delete each resource type the platform uses, as the platform user (system python3).

Runs under /usr/bin/python3 (openstacksdk from Debian), imports nothing from `hdh`; credentials
come from the OS_* environment. Prints one JSON object of observations; exits 1 on a failure.
    OS_...=... /usr/bin/python3 probe.py network|volume|boot|anti-affinity|keypair|secrets|swift|
                                         services|leftovers
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import openstack

IMAGE_NAME = "Debian 12"
IMAGE_KEY = "hdh-local-image-key"


def _image_id(conn: Any) -> str:
    return str(conn.image.find_image(IMAGE_NAME, ignore_missing=False).id)


def _wait(
    get: Callable[[], Any], ok: str, bad: tuple[str, ...] = ("error",), t: float = 180
) -> Any:
    deadline = time.monotonic() + t
    while True:
        res = get()
        status = (res.status or "").lower()
        if status == ok.lower():
            return res
        if status in bad:
            raise RuntimeError(f"{res.id}: status {res.status}: {getattr(res, 'fault', '')}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{res.id}: still {res.status} after {t:.0f} s")
        time.sleep(1)


def _gone(get: Callable[[], Any], t: float = 120) -> None:
    deadline = time.monotonic() + t
    while time.monotonic() < deadline:
        try:
            if get() is None:
                return
        except openstack.exceptions.NotFoundException:
            return
        time.sleep(1)
    raise RuntimeError("resource not deleted in time")


def _tenant_net(conn: Any, tag: str) -> tuple[Any, Any]:
    net = conn.network.create_network(name=f"probe-{tag}")
    sub = conn.network.create_subnet(
        network_id=net.id, ip_version=4, cidr="10.250.0.0/24", name=f"probe-{tag}"
    )
    return net, sub


def _drop_net(conn: Any, net: Any, sub: Any) -> None:
    """Delete a probe's network once Nova has released its ports (even after a failure)."""
    for _ in range(30):
        if not list(conn.network.ports(network_id=net.id, device_owner="compute:nova")):
            break
        time.sleep(1)
    conn.network.delete_subnet(sub, ignore_missing=True)
    conn.network.delete_network(net, ignore_missing=True)


def network(conn: Any) -> dict[str, Any]:
    """Network, subnet, router with gateway, SG + rule, port, floating IP on the port."""
    out: dict[str, Any] = {}
    net, sub = _tenant_net(conn, "net")
    public = conn.network.find_network("public")
    router = conn.network.create_router(
        name="probe-router", external_gateway_info={"network_id": public.id}
    )
    conn.network.add_interface_to_router(router, subnet_id=sub.id)
    sg = conn.network.create_security_group(name="probe-sg")
    for rule in list(conn.network.security_group_rules(security_group_id=sg.id)):
        conn.network.delete_security_group_rule(rule)
    rule = conn.network.create_security_group_rule(
        security_group_id=sg.id,
        direction="ingress",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="192.0.2.0/24",
        ethertype="IPv4",
    )
    port = conn.network.create_port(network_id=net.id, security_group_ids=[sg.id])
    fip = conn.network.create_ip(floating_network_id=public.id)
    conn.network.update_ip(fip, port_id=port.id)
    fip = conn.network.get_ip(fip.id)
    out["floating_ip"] = fip.floating_ip_address
    out["floating_ip_port"] = fip.port_id == port.id
    out["floating_ip_status"] = fip.status
    out["router_status"] = conn.network.get_router(router.id).status
    out["port_status"] = conn.network.get_port(port.id).status
    out["sg_rules"] = len(list(conn.network.security_group_rules(security_group_id=sg.id)))
    conn.network.delete_ip(fip)
    conn.network.delete_port(port)
    conn.network.delete_security_group_rule(rule)
    conn.network.delete_security_group(sg)
    conn.network.remove_interface_from_router(router, subnet_id=sub.id)
    conn.network.delete_router(router)
    conn.network.delete_subnet(sub)
    conn.network.delete_network(net)
    return out


def volume(conn: Any) -> dict[str, Any]:
    vol = conn.block_storage.create_volume(name="probe-vol", size=1, volume_type="luks")
    vol = _wait(lambda: conn.block_storage.get_volume(vol.id), "available")
    out = {"status": vol.status, "encrypted": vol.is_encrypted, "type": vol.volume_type}
    conn.block_storage.delete_volume(vol)
    _gone(lambda: conn.block_storage.get_volume(vol.id))
    return out


def _server(
    conn: Any, name: str, net_id: str, group: str | None = None, volume_id: str | None = None
) -> Any:
    """Boot from volume: a new one copied from the image, or an existing one (`volume_id`)."""
    flavor = conn.compute.find_flavor("hdh.small")
    bdm: dict[str, Any] = {
        "boot_index": 0,
        "uuid": _image_id(conn),
        "source_type": "image",
        "destination_type": "volume",
        "volume_size": 10,
        "volume_type": "luks",
        "delete_on_termination": True,
    }
    if volume_id:
        bdm = {
            "boot_index": 0,
            "uuid": volume_id,
            "source_type": "volume",
            "destination_type": "volume",
            "delete_on_termination": True,
        }
    if volume_id == "":  # no volume at all: the fake driver boots the image itself
        attrs_img: dict[str, Any] = {
            "name": name,
            "flavor_id": flavor.id,
            "networks": [{"uuid": net_id}],
            "image_id": _image_id(conn),
        }
        if group:
            attrs_img["scheduler_hints"] = {"group": group}
        return conn.compute.create_server(**attrs_img)
    attrs: dict[str, Any] = {
        "name": name,
        "flavor_id": flavor.id,
        "networks": [{"uuid": net_id}],
        "block_device_mapping": [bdm],
    }
    if group:
        attrs["scheduler_hints"] = {"group": group}
    return conn.compute.create_server(**attrs)


def boot(conn: Any) -> dict[str, Any]:
    """Boot from a volume of the encrypted type: `boot image` copies the image into a new one
    (needs dm-crypt on the Cinder host), `boot volume` boots an existing blank one."""
    net, sub = _tenant_net(conn, "boot")
    kp = conn.compute.create_keypair(name=f"probe-{uuid.uuid4().hex[:6]}")
    vol_id = None
    if sys.argv[2:] == ["volume"]:
        vol = conn.block_storage.create_volume(name="probe-boot", size=10, volume_type="luks")
        _wait(lambda: conn.block_storage.get_volume(vol.id), "available")
        conn.block_storage.set_volume_bootable_status(vol, True)
        vol_id = vol.id
    srv = _server(conn, "probe-boot", net.id, volume_id=vol_id)
    try:
        srv = _wait(lambda: conn.compute.get_server(srv.id), "ACTIVE", t=300)
        vols = [a["id"] for a in srv.attached_volumes]
        vol = conn.block_storage.get_volume(vols[0])
        out = {
            "status": srv.status,
            "host": srv.compute_host,
            "volume_type": vol.volume_type,
            "volume_encrypted": vol.is_encrypted,
            "bootable": vol.is_bootable,
        }
    finally:
        conn.compute.delete_server(srv)
        _gone(lambda: conn.compute.find_server(srv.id))
        conn.compute.delete_keypair(kp)
        _drop_net(conn, net, sub)
    return out


def anti_affinity(conn: Any) -> dict[str, Any]:
    """As many anti-affine servers as hosts go ACTIVE on distinct hosts; one more fails."""
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    net, sub = _tenant_net(conn, "aa")
    group = conn.compute.create_server_group(name="probe-aa", policy="anti-affinity")
    servers = []
    out: dict[str, Any] = {}
    try:
        for i in range(n):
            servers.append(_server(conn, f"probe-aa-{i}", net.id, group.id))
        done = [_wait(partial(conn.compute.get_server, s.id), "ACTIVE", t=300) for s in servers]
        out["active"] = len(done)  # the host is admin-only; distinct hosts are Nova's promise
        extra = _server(conn, "probe-aa-extra", net.id, group.id)
        servers.append(extra)
        try:
            _wait(lambda: conn.compute.get_server(extra.id), "ACTIVE", t=120)
            out["extra"] = "ACTIVE"
        except RuntimeError as exc:
            out["extra"] = str(exc)[:200]
    finally:
        for s in servers:
            conn.compute.delete_server(s)
        for s in servers:
            _gone(partial(conn.compute.find_server, s.id))
        conn.compute.delete_server_group(group)
        _drop_net(conn, net, sub)
    return out


def keypair(conn: Any) -> dict[str, Any]:
    kp = conn.compute.create_keypair(name="probe-kp")
    out = {"fingerprint": kp.fingerprint is not None}
    conn.compute.delete_keypair(kp)
    return out


def secrets(conn: Any) -> dict[str, Any]:
    order = conn.key_manager.create_order(
        type="key", meta={"algorithm": "aes", "bit_length": 256, "name": "probe-key"}
    )
    # openstacksdk's Order keeps the full href as its id: look it up by the trailing uuid.
    order_id = order.order_ref.rsplit("/", 1)[1]
    order = _wait(lambda: conn.key_manager.get_order(order_id), "ACTIVE", t=60)
    secret = conn.key_manager.create_secret(
        name="probe-secret",
        payload="c2VjcmV0",
        payload_content_type="application/octet-stream",
        payload_content_encoding="base64",
        secret_type="opaque",
    )
    out = {
        "order": order.status,
        "order_secret": bool(order.secret_ref),
        "secret": bool(secret.secret_ref),
    }
    # By uuid: given the Secret itself (whose id is its href) this openstacksdk deleted nothing.
    conn.key_manager.delete_secret(secret.secret_ref.rsplit("/", 1)[1])
    conn.key_manager.delete_secret(order.secret_ref.rsplit("/", 1)[1])
    conn.key_manager.delete_order(order_id)
    out["left"] = [s.name for s in conn.key_manager.secrets() if (s.name or "").startswith("probe")]
    return out


def swift(conn: Any) -> dict[str, Any]:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    os_ = conn.object_store
    os_.put(name, headers={"X-Versions-Enabled": "true"}, raise_exc=True)
    head = os_.head(name, raise_exc=True).headers
    os_.put(f"{name}/obj", data=b"one", raise_exc=True)
    os_.put(f"{name}/obj", data=b"two", raise_exc=True)
    versions = os_.get(f"{name}?versions&format=json", raise_exc=True).json()
    out = {
        "versions_enabled": head.get("X-Versions-Enabled"),
        "read_acl": head.get("X-Container-Read"),
        "object_versions": len(versions),
    }
    for v in versions:
        os_.delete(f"{name}/obj?version-id={v['version_id']}", raise_exc=True)
    os_.post(name, headers={"X-Versions-Enabled": "false"}, raise_exc=True)
    os_.delete(name, raise_exc=True)
    return out


def services(conn: Any) -> dict[str, Any]:
    """One authenticated read per service through the catalog."""
    return {
        "identity": conn.current_project_id is not None,
        "compute": len(list(conn.compute.flavors())),
        "image": conn.image.find_image(IMAGE_NAME, ignore_missing=False).status,
        "network": conn.network.find_network("public") is not None,
        "volume_types": sorted(t.name for t in conn.block_storage.types()),
        "key-manager": len(list(conn.key_manager.secrets())) >= 0,
        "object-store": os_ok(conn),
        "placement": conn.placement.get("/", raise_exc=True).status_code,
    }


def os_ok(conn: Any) -> int:
    return int(conn.object_store.head("", raise_exc=True).status_code)


def _containers(conn: Any) -> dict[str, dict[str, str | None]]:
    out = {}
    for c in conn.object_store.get("?format=json", raise_exc=True).json():
        head = conn.object_store.head(c["name"], raise_exc=True).headers
        out[c["name"]] = {
            "read_acl": head.get("X-Container-Read"),
            "versions": head.get("X-Versions-Enabled"),
        }
    return out


def _secret_ids(conn: Any) -> set[str]:
    return {(s.secret_ref or "").rstrip("/").rsplit("/", 1)[-1] for s in conn.key_manager.secrets()}


def _settle_volumes(conn: Any, t: float = 120) -> None:
    """Nova deletes a server's boot volume after the server is gone: wait for those deletions."""
    deadline = time.monotonic() + t
    while time.monotonic() < deadline:
        busy = [v for v in conn.block_storage.volumes() if v.status in ("deleting", "detaching")]
        if not busy:
            return
        time.sleep(2)


def leftovers(conn: Any) -> dict[str, Any]:
    """What the platform user's project still holds, in every service.

    Orders Cinder made for its per-volume keys are left out: Cinder (castellan) deletes the key
    but never the order, a record without key material that the project cannot avoid. Only an
    order with no name whose secret is gone is taken for one (the platform names its orders);
    any other order counts.
    """
    pid = conn.current_project_id
    _settle_volumes(conn)
    secrets = _secret_ids(conn)
    orders = list(conn.key_manager.orders())

    def cinder_residue(o: Any) -> bool:
        ref = (o.secret_ref or "").rstrip("/").rsplit("/", 1)[-1]
        return not (o.meta or {}).get("name") and bool(ref) and ref not in secrets

    return {
        "servers": [s.name for s in conn.compute.servers()],
        "server_groups": [g.name for g in conn.compute.server_groups()],
        "keypairs": [k.name for k in conn.compute.keypairs()],
        "networks": [n.name for n in conn.network.networks(project_id=pid)],
        "routers": [r.name for r in conn.network.routers(project_id=pid)],
        "ports": [p.id for p in conn.network.ports(project_id=pid)],
        "floating_ips": [f.floating_ip_address for f in conn.network.ips(project_id=pid)],
        "security_groups": [
            g.name for g in conn.network.security_groups(project_id=pid) if g.name != "default"
        ],
        "volumes": [v.name for v in conn.block_storage.volumes()],
        # The image's own key (hdh cloud's, not the platform's) stays.
        "secrets": [s.name for s in conn.key_manager.secrets() if s.name != IMAGE_KEY],
        "orders": [o.order_ref for o in orders if not cinder_residue(o)],
        "containers": sorted(_containers(conn)),
    }


def inventory(conn: Any) -> dict[str, Any]:
    """What exists in the platform user's project, for the end-to-end checks."""
    pid = conn.current_project_id
    ports = {p.id: p for p in conn.network.ports(project_id=pid)}
    servers = {s.id: s.name for s in conn.compute.servers()}
    fips = []
    for f in conn.network.ips(project_id=pid):
        port = ports.get(f.port_id) if f.port_id else None
        fips.append(
            {
                "address": f.floating_ip_address,
                "server": servers.get(port.device_id) if port else None,
            }
        )
    rules = []
    for g in conn.network.security_groups(project_id=pid):
        for r in conn.network.security_group_rules(security_group_id=g.id):
            rules.append(
                {
                    "group": g.name,
                    "direction": r.direction,
                    "protocol": r.protocol,
                    "port_min": r.port_range_min,
                    "port_max": r.port_range_max,
                    "remote_ip_prefix": r.remote_ip_prefix,
                    "remote_group": r.remote_group_id is not None,
                }
            )
    return {
        "networks": sorted(n.name for n in conn.network.networks(project_id=pid)),
        "routers": [
            {"name": r.name, "gateway": bool(r.external_gateway_info)}
            for r in conn.network.routers(project_id=pid)
        ],
        "floating_ips": fips,
        "rules": rules,
        "servers": sorted(servers.values()),
        "volumes": [
            {"name": v.name, "type": v.volume_type, "encrypted": v.is_encrypted}
            for v in conn.block_storage.volumes()
        ],
        "secrets": [s.name for s in conn.key_manager.secrets()],
        "containers": _containers(conn),
    }


CHECKS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "network": network,
    "volume": volume,
    "boot": boot,
    "anti-affinity": anti_affinity,
    "keypair": keypair,
    "secrets": secrets,
    "swift": swift,
    "services": services,
    "leftovers": leftovers,
    "inventory": inventory,
}


def main() -> None:
    conn = openstack.connect()
    t0 = time.monotonic()
    result = CHECKS[sys.argv[1]](conn)
    result["seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
