"""Limits the config model checks before anything is registered: admin CIDRs, subnet sizes, keys.

Each function returns problems, never raises: the model reports them all in one pass.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import struct
from collections.abc import Iterable, Iterator, Sequence
from ipaddress import IPv4Network
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.config import ResolvedBubble, Settings

TIERS = ("admin", "services", "data", "processing")  # components.config re-exports it

# The bastion is the platform's only world-facing entry: its SSH is open to the administrators'
# egress ranges and nothing wider. At most a /16 worth of addresses in total, so that neither
# 0.0.0.0/0 nor any set of ranges whose union covers a large part of the Internet (the two halves
# 0.0.0.0/1 + 128.0.0.0/1, sixteen /4s, ...) gets through. docs/policies.md states the rule.
ADMIN_MAX_ADDRESSES = 2**16
ADMIN_MIN_PREFIX = 16
# Not a source an administrator connects from.
NOT_A_SOURCE = tuple(
    ipaddress.ip_network(n)
    for n in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
)
# A subnet's DHCP range runs from .2 to last-2 (.1 is the gateway, last-1 is kept for the core
# router or the API VIP): size - 4 addresses. Neutron takes some for its own ports (DHCP agents,
# OVN metadata); each tier must keep room for them beside its hosts.
NEUTRON_PORTS = 3
LB_PORTS = 3  # a Kubernetes API load balancer: VIP port and two amphorae (active/standby)

KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
RSA_MIN_BITS = 2048  # ANSSI's OpenSSH recommendations: RSA keys of 2048 bits at least


def admin_cidr_problems(cidrs: Sequence[IPv4Network]) -> Iterator[tuple[str, str]]:
    """(key, message) for each admin CIDR too wide or not a source, then for the union."""
    for i, c in enumerate(cidrs):
        key = f"hdh:adminCidrs[{i}]"
        if c.prefixlen == 0:
            yield key, f"{c} is the whole Internet: list the administrators' egress ranges"
        elif c.prefixlen < ADMIN_MIN_PREFIX:
            yield key, f"{c} is wider than a /{ADMIN_MIN_PREFIX}: list the administrators' ranges"
        elif any(c.overlaps(n) for n in NOT_A_SOURCE):
            yield key, f"{c} is loopback, link-local, multicast or reserved: not a source"
    union = list(ipaddress.collapse_addresses(cidrs))
    total = sum(n.num_addresses for n in union)
    if total > ADMIN_MAX_ADDRESSES and all(c.prefixlen >= ADMIN_MIN_PREFIX for c in cidrs):
        yield (
            "hdh:adminCidrs",
            f"together they admit {total:,} addresses, more than {ADMIN_MAX_ADDRESSES:,} "
            f"(a /{ADMIN_MIN_PREFIX}): list the administrators' egress ranges only",
        )


def overlap_problems(s: Settings, bubbles: list[ResolvedBubble]) -> Iterator[tuple[str, str]]:
    """Tiers and bubbles must not overlap; the pool must not overlap a tier (sweep, n log n)."""
    spans: list[tuple[IPv4Network, str, str]] = [
        (getattr(s.tiers, t), f"hdh:tiers.{t}", f"{t} tier") for t in TIERS
    ]
    index = {b.name: i for i, b in enumerate(s.bubbles)}
    for b in bubbles:
        i = index[b.name]
        key = f"hdh:bubbles[{i}].cidr" if s.bubbles[i].cidr else f"hdh:bubbles[{i}]"
        spans.append((b.cidr, key, f"bubble {b.name}"))
    if s.bubble_pool:
        for t in TIERS:
            tier = getattr(s.tiers, t)
            if tier.overlaps(s.bubble_pool.cidr):
                yield ("hdh:bubblePool.cidr", f"overlaps {t} tier {tier}")
    k = s.kubernetes
    if k.enabled:
        # Pods and services must not shadow a tier or a bubble: the cluster could not reach it.
        for cidr, key, what in (
            (k.pod_cidr, "hdh:kubernetes.podCidr", "Kubernetes pod range"),
            (k.service_cidr, "hdh:kubernetes.serviceCidr", "Kubernetes service range"),
        ):
            if s.bubble_pool and cidr.overlaps(s.bubble_pool.cidr):
                yield (key, f"{cidr} overlaps the bubble pool")
            spans.append((cidr, key, what))
    # Widest first at equal start, so the narrower (more specific) entry is the one blamed.
    spans.sort(key=lambda x: (int(x[0].network_address), x[0].prefixlen))
    widest: tuple[IPv4Network, str, str] | None = None
    for span in spans:
        if widest is not None and span[0].overlaps(widest[0]):
            yield (span[1], f"{span[0]} overlaps {widest[2]} {widest[0]}")
        if widest is None or int(span[0].broadcast_address) > int(widest[0].broadcast_address):
            widest = span
    for i, c in enumerate(s.admin_cidrs):
        if c.is_private and any(c.overlaps(sp[0]) for sp in spans):
            yield (f"hdh:adminCidrs[{i}]", f"{c} overlaps a platform network")


def pool_size(cidr: IPv4Network) -> int:
    return max(0, cidr.num_addresses - 4)


def tier_size_problems(s: Settings, bubbles: Iterable[ResolvedBubble]) -> Iterator[tuple[str, str]]:
    """(key, message) for each subnet whose DHCP range cannot hold its hosts."""
    k = s.kubernetes
    nodes = k.control_plane_count + k.worker_count + LB_PORTS if k.enabled else 0
    hosts = {"admin": 1, "services": s.services_count, "data": s.data_hosts, "processing": nodes}
    for tier, n in hosts.items():
        cidr = getattr(s.tiers, tier)
        if (problem := _fits(cidr, n, f"{tier} tier")) is not None:
            yield f"hdh:tiers.{tier}", problem
    index = {b.name: i for i, b in enumerate(s.bubbles)}
    for b in bubbles:
        i = index[b.name]
        if (problem := _fits(b.cidr, b.workspaces, f"bubble {b.name}")) is not None:
            pinned = s.bubbles[i].cidr is not None
            yield (f"hdh:bubbles[{i}].cidr" if pinned else "hdh:bubblePool.prefixLength"), problem


def _fits(cidr: IPv4Network, hosts: int, what: str) -> str | None:
    need = hosts + NEUTRON_PORTS
    if pool_size(cidr) >= need:
        return None
    return (
        f"{cidr} leaves {pool_size(cidr)} addresses to hand out, {what} needs {need} "
        f"({hosts} host(s) + {NEUTRON_PORTS} for Neutron's own ports): use a wider subnet"
    )


def public_key_problem(value: Any) -> str | None:
    """Why `value` is not one OpenSSH public key line; the message never repeats the value."""
    if not isinstance(value, str):
        return "expected an OpenSSH public key (a string)"
    if "PRIVATE KEY" in value.upper():
        return "holds a private key: only the public key goes here (the value is not shown)"
    text = value.strip()
    if "\n" in text or "\r" in text:
        return "expected one line: a single OpenSSH public key (the value is not shown)"
    parts = text.split(None, 2)
    if len(parts) < 2 or parts[0] not in KEY_TYPES:
        return f"expected '<type> <base64> [comment]' with type one of {', '.join(KEY_TYPES)}"
    if len(parts) == 3 and not parts[2].isprintable():
        return "the comment holds control characters"
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return "the key is not valid base64"
    fields = _ssh_strings(blob)
    if not fields or fields[0] != parts[0].encode():
        return f"the key data is not a {parts[0]} key"
    if parts[0] == "ssh-rsa" and (len(fields) < 3 or _bits(fields[2]) < RSA_MIN_BITS):
        return f"RSA key shorter than {RSA_MIN_BITS} bits"
    return None


def _ssh_strings(blob: bytes) -> list[bytes]:
    """The length-prefixed strings of an SSH wire-format key (RFC 4253 §6.6)."""
    out, i = [], 0
    while i < len(blob):
        if i + 4 > len(blob):
            return []
        (n,) = struct.unpack(">I", blob[i : i + 4])
        if i + 4 + n > len(blob):
            return []
        out.append(blob[i + 4 : i + 4 + n])
        i += 4 + n
    return out


def _bits(mpint: bytes) -> int:
    return int.from_bytes(mpint, "big").bit_length()
