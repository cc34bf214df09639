"""Logic several rules share, parameterised (checkov's abstract parents, as functions)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from ground.names import endpoint_key
from policies.config import catalogue, is_loopback
from policies.rule import Resource, as_list, as_map, known

WORKLOAD_TYPES = (
    "kubernetes:core/v1:Pod",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
)


def region_problem(region: Any, auth_url: Any, cfg: Mapping[str, Any]) -> str | None:
    """Why `region` behind endpoint `auth_url` is not an allowed EU region, or None.

    The endpoint decides whose region a name is (two providers may both have a "RegionOne"):
    a region is allowed only behind an endpoint that lists it (allowedEndpoints, keyed by the
    profiles' authUrl), and only if allowedRegions has it too (a team's narrowing).
    """
    if not isinstance(region, str) or not region:
        return "no region pinned: the provider default or the environment would decide"
    if region in cfg["testRegions"] and (cfg["allowTestRegions"] or is_loopback(auth_url)):
        return None
    if region in cfg["testRegions"] and region not in cfg["allowedRegions"]:
        return (
            f"region {region} is a test region: allowed only with a loopback authUrl or "
            "allowTestRegions"
        )
    if not isinstance(auth_url, str) or not auth_url:
        return (
            f"no authUrl: nothing shows whose region {region} is (an endpoint from the "
            "environment or clouds.yaml could be any provider's); pin the profile's authUrl"
        )
    try:
        endpoint = endpoint_key(auth_url)
    except ValueError:
        return "authUrl is not a valid URL"
    regions = {endpoint_key(k): v for k, v in cfg["allowedEndpoints"].items()}.get(endpoint)
    if regions is None:
        return f"authUrl {endpoint} is not an allowed EU Keystone endpoint (allowedEndpoints)"
    if region in regions and region in cfg["allowedRegions"]:
        return None
    known = catalogue().get(region)
    if not known:
        return f"unknown region {region}: in no provider profile, so not known to be in the EU"
    where = "; ".join(f"{p}: {w}{'' if eu else ', outside the EU'}" for p, w, eu, _ in known)
    return f"region {region} is not an allowed EU region of {endpoint} ({where})"


def volume_type_problem(vtype: Any, cfg: Mapping[str, Any], what: str) -> str | None:
    # pulumi-openstack has no per-volume flag: the type *is* the encryption. No type at all
    # means the cloud's default type, which profiles name "__DEFAULT__".
    name = vtype or "__DEFAULT__"
    if name in cfg["encryptedVolumeTypes"]:
        return None
    shown = f"volume type {vtype!r}" if vtype else "no volume type (the cloud's default)"
    return f"{what}: {shown} is not an encrypted type"


def is_world(prefix: Any) -> bool:
    try:
        return isinstance(prefix, str) and ipaddress.ip_network(prefix, strict=False).prefixlen == 0
    except ValueError:
        return False


# Internal address space: everything else is external, documentation ranges included (the
# stacks use RFC 5737 ranges as stand-ins for the administrators' real public addresses).
INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


def is_public(prefix: str) -> bool:
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        return True  # not a CIDR: cannot show it is internal
    return not any(net.version == i.version and net.subnet_of(i) for i in INTERNAL)  # type: ignore[arg-type]


def within(prefix: str, allowed: list[str]) -> bool:
    try:
        net = ipaddress.ip_network(prefix, strict=False)
        return any(
            net.version == (a := ipaddress.ip_network(c, strict=False)).version and net.subnet_of(a)  # type: ignore[arg-type]
            for c in allowed
        )
    except ValueError:
        return False


def pod_spec(res: Resource) -> tuple[str, dict[str, Any]] | None:
    """(path shown in messages, pod spec) of a workload, whatever its kind; a spec with any
    value unknown (preview) raises UnknownValueError: the pod rules cannot decide on it."""
    path: tuple[str, ...]
    if res.type == "kubernetes:core/v1:Pod":
        where, path = "spec", ("spec",)
    elif res.type == "kubernetes:batch/v1:CronJob":
        where = "spec.jobTemplate.spec.template.spec"
        path = ("spec", "jobTemplate", "spec", "template", "spec")
    else:
        where, path = "spec.template.spec", ("spec", "template", "spec")
    return where, known(as_map(res.get(*path)), *path)


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(as_list(spec.get(kind))):
            if isinstance(c, Mapping):
                yield f"{kind}[{i}] {c.get('name', '?')}", c


def namespace(res: Resource) -> str:
    value = res.get("metadata", "namespace")
    return value if isinstance(value, str) and value else "default"


def token_uses(spec: Mapping[str, Any], where: str, token_secrets: set[str]) -> Iterator[str]:
    """How a pod spec gets a Kubernetes API token: automount, a projected token, a token Secret."""
    if spec.get("automountServiceAccountToken") is True:
        yield f"{where}.automountServiceAccountToken is true"
    for i, vol in enumerate(as_list(spec.get("volumes"))):
        vol = as_map(vol)
        sources = as_list(as_map(vol.get("projected")).get("sources"))
        if any(as_map(s).get("serviceAccountToken") for s in sources):
            yield f"{where}.volumes[{i}] projects a service-account token"
        if str(as_map(vol.get("secret")).get("secretName")) in token_secrets:
            yield f"{where}.volumes[{i}] mounts a service-account-token Secret"
    for name, c in containers(spec):
        refs = [
            as_map(as_map(as_map(e).get("valueFrom")).get("secretKeyRef"))
            for e in as_list(c.get("env"))
        ]
        refs += [as_map(as_map(e).get("secretRef")) for e in as_list(c.get("envFrom"))]
        if any(str(r.get("name")) in token_secrets for r in refs):
            yield f"{where}.{name} reads a service-account-token Secret"
