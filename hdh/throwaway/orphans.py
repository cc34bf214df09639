"""Cloud resources of throwaway stacks, found by their tags (stack=, expires-at=); their removal.

Only resources carrying both labels are ever considered, and only when the stack they name is a
throwaway name: a permanent stack's resources carry no expiry (components/tags.py, tested).
Keypairs, server groups and Barbican keys take no tags: they cannot be attributed here (the
reaper destroys them with their stack; docs/ci.md says what is left when a stack is lost).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from components.tags import EXPIRES_KEY
from hdh.throwaway import names

log = logging.getLogger(__name__)
# Deletion order: servers first (they free ports and boot volumes), routers before the subnets
# they are attached to, networks after their ports, containers last.
KINDS = (
    "server",
    "floating_ip",
    "router",
    "port",
    "subnet",
    "network",
    "security_group",
    "volume",
    "container",
)


@dataclass(frozen=True)
class Tagged:
    kind: str
    id: str
    name: str
    stack: str
    expires: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "name": self.name,
            "stack": self.stack,
            "expiresAt": names.format_time(self.expires) if self.expires else None,
        }


def _labels(tags: Iterable[Any] | None, metadata: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags or []:
        if isinstance(tag, str) and "=" in tag:
            key, _, value = tag.partition("=")
            out[key] = value
    for key, value in (metadata or {}).items():
        if isinstance(value, str):
            out[str(key).lower()] = value
    return out


def _tagged(kind: str, rid: str, name: str, labels: Mapping[str, str]) -> Tagged | None:
    stack = labels.get("stack", "")
    if EXPIRES_KEY not in labels or not names.NAME.match(stack):
        return None
    return Tagged(kind, rid, name or "", stack, names.parse_time(labels[EXPIRES_KEY]))


def _found(conn: Any) -> Iterator[Tagged | None]:
    pid = conn.current_project_id
    for s in conn.compute.servers():
        yield _tagged("server", s.id, s.name, _labels(s.tags, s.metadata))
    net = conn.network
    for kind, listing in (
        ("floating_ip", net.ips(project_id=pid)),
        ("router", net.routers(project_id=pid)),
        ("port", net.ports(project_id=pid)),
        ("subnet", net.subnets(project_id=pid)),
        ("network", net.networks(project_id=pid)),
        ("security_group", net.security_groups(project_id=pid)),
    ):
        for r in listing:
            name = getattr(r, "name", "") or getattr(r, "floating_ip_address", "") or ""
            yield _tagged(kind, r.id, name, _labels(r.tags, None))
    for v in conn.block_storage.volumes():
        yield _tagged("volume", v.id, v.name, _labels(None, v.metadata))
    for c in conn.object_store.containers():
        meta = conn.object_store.get_container_metadata(c.name).metadata
        yield _tagged("container", c.name, c.name, _labels(None, meta))


def scan(conn: Any) -> list[Tagged]:
    """Every resource of the project that a throwaway stack tagged, in deletion order."""
    found = [t for t in _found(conn) if t is not None]
    return sorted(found, key=lambda t: KINDS.index(t.kind))


def _wait_gone(get: Any, rid: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while get(rid) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{rid} still there after {timeout:.0f} s")
        time.sleep(2)


def _delete_one(conn: Any, t: Tagged) -> None:
    net = conn.network
    if t.kind == "server":
        conn.compute.delete_server(t.id, ignore_missing=True)
        _wait_gone(lambda i: conn.compute.find_server(i, ignore_missing=True), t.id)
    elif t.kind == "floating_ip":
        net.delete_ip(t.id, ignore_missing=True)
    elif t.kind == "router":
        router = net.find_router(t.id, ignore_missing=True)
        if router is None:
            return
        for port in net.ports(device_id=t.id):
            if (port.device_owner or "").startswith("network:router_interface"):
                net.remove_interface_from_router(router, port_id=port.id)
        if router.external_gateway_info:
            net.update_router(router, external_gateway_info={})
        net.delete_router(t.id, ignore_missing=True)
    elif t.kind == "port":
        net.delete_port(t.id, ignore_missing=True)
    elif t.kind == "subnet":
        net.delete_subnet(t.id, ignore_missing=True)
    elif t.kind == "network":
        net.delete_network(t.id, ignore_missing=True)
    elif t.kind == "security_group":
        net.delete_security_group(t.id, ignore_missing=True)
    elif t.kind == "volume":
        conn.block_storage.delete_volume(t.id, ignore_missing=True)
        _wait_gone(lambda i: conn.block_storage.find_volume(i, ignore_missing=True), t.id)
    elif t.kind == "container":
        for obj in conn.object_store.objects(t.id):
            conn.object_store.delete_object(obj, container=t.id, ignore_missing=True)
        conn.object_store.delete_container(t.id, ignore_missing=True)


def delete(conn: Any, items: Iterable[Tagged]) -> list[tuple[Tagged, str]]:
    """Delete in dependency order; [(resource, error)] for those that would not go."""
    failed = []
    for t in sorted(items, key=lambda t: KINDS.index(t.kind)):
        try:
            _delete_one(conn, t)
            log.info("reap: deleted %s %s (%s) of %s", t.kind, t.name, t.id, t.stack)
        except Exception as exc:  # the SDK's many exception types: report, go on with the rest
            log.warning("reap: could not delete %s %s of %s: %s", t.kind, t.id, t.stack, exc)
            failed.append((t, f"{type(exc).__name__}: {exc}"[:300]))
    return failed


def connect() -> Any:
    """openstacksdk from OS_* variables or clouds.yaml (OS_CLOUD), as the provider does."""
    import openstack
    from keystoneauth1.exceptions import ClientException
    from openstack.exceptions import SDKException

    from ground.errors import HdhError

    try:
        conn = openstack.connect()
        conn.authorize()
    except (SDKException, ClientException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HdhError(
            f"orphan scan: cannot reach the cloud ({first}): set OS_* or OS_CLOUD, or use "
            "--no-orphans"
        ) from None
    return conn
