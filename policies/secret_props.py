"""Where secret material sits in each resource type, and how to recognise it in free values.

pulumi-openstack marks few properties secret (the provider's `password`, a Barbican payload, an
instance's adminPass, ...): a token, an application credential secret, a VPN pre-shared key, a
container-sync key or a user's password given in clear reaches the state in clear. The pack
judges every property below, whatever the provider marks. Paths: "a.b" nested, "a[].b" in each
element of a list, "a{}" each entry of a map.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from policies.rule import UNKNOWN, Resource, walk

SECRET_PROPS: dict[str, tuple[str, ...]] = {
    "pulumi:providers:openstack": ("password", "token", "applicationCredentialSecret"),
    "pulumi:providers:kubernetes": ("kubeconfig",),
    "openstack:keymanager/secretV1:SecretV1": ("payload",),
    "openstack:containerinfra/cluster:Cluster": ("kubeconfig",),
    "openstack:identity/user:User": ("password",),
    "openstack:identity/applicationCredential:ApplicationCredential": ("secret",),
    "openstack:database/user:User": ("password",),
    "openstack:database/instance:Instance": ("users[].password",),
    "openstack:vpnaas/siteConnection:SiteConnection": ("psk",),
    "openstack:objectstorage/container:Container": ("containerSyncKey",),
    "openstack:networking/bgpPeerV2:BgpPeerV2": ("password",),
    "openstack:sharedfilesystem/securityService:SecurityService": ("password",),
    "openstack:images/image:Image": ("imageSourcePassword",),
    "openstack:dns/transferRequest:TransferRequest": ("key",),
    "openstack:dns/transferAccept:TransferAccept": ("key",),
    "openstack:objectstorage/tempUrl:TempUrl": ("key",),
    "openstack:compute/instance:Instance": ("personalities[].content",),
    "kubernetes:core/v1:Secret": ("data{}", "stringData{}"),
}
# Free-form maps whose entries are secret when the key says so (Swift temp URL keys).
SECRET_META = re.compile(r"^(x-(account|container)-meta-)?temp-url-key(-2)?$", re.I)
SECRET_NAME = re.compile(
    r"(password|passwd|secret|token|kubeconfig|private.?key|psk|credential)", re.I
)
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
# A kubeconfig's credentials: a client key or a bearer token.
KEY_MATERIAL = re.compile(PRIVATE_KEY.pattern + r"|client-key-data:|\btoken:\s*\S")


def paths(res: Resource, spec: str) -> Iterator[tuple[Any, ...]]:
    """Concrete property paths of `spec` in `res` ("users[].password" -> ("users", 0, ...))."""
    out: list[tuple[Any, ...]] = [()]
    for part in spec.split("."):
        name, brackets = part.rstrip("[]{}"), part[len(part.rstrip("[]{}")) :]
        nxt: list[tuple[Any, ...]] = []
        for p in out:
            value: Any = res.props
            for k in (*p, name):
                value = value.get(k) if isinstance(value, dict) else value[k]
                if value is UNKNOWN:  # a preview: this secret cannot be judged yet
                    raise UnknownValueError(UNKNOWN_STRING_VALUE, [str(x) for x in (*p, name)])
            p = (*p, name)
            if brackets == "[]" and isinstance(value, list):
                nxt += [(*p, i) for i in range(len(value))]
            elif brackets == "{}" and isinstance(value, dict):
                nxt += [(*p, k) for k in value]
            elif not brackets:
                nxt.append(p)
        out = nxt
    yield from out


def clear_secrets(res: Resource) -> Iterator[str]:
    """`prop.path` of each secret value of `res` stored in clear."""
    for spec in SECRET_PROPS.get(res.type, ()):
        try:
            found = list(paths(res, spec))
        except (KeyError, IndexError, TypeError, AttributeError):
            continue  # not set (or not a container where one is expected): nothing stored
        # (UnknownValueError passes through: the rule is undetermined for this resource)
        for path in found:
            value = res.get(*path)  # an unknown (preview) value: undetermined, not judged
            if value not in (None, "", {}, []) and not res.is_secret(*path):
                yield _shown(path)
    for prop in ("metadata",):
        meta = res.props.get(prop)
        if isinstance(meta, dict):
            for key, value in meta.items():
                if SECRET_META.match(str(key)) and value and not res.is_secret(prop, key):
                    yield f"{prop}.{key}"


def clear_outputs(outputs: dict[str, Any], res: Resource) -> Iterator[str]:
    """Stack outputs that look like secret material and are not secrets."""
    for path, value in walk(outputs):
        if not isinstance(value, str) or not value or res.is_secret(*path):
            continue
        named = any(SECRET_NAME.search(str(p)) for p in path if isinstance(p, str))
        if named or KEY_MATERIAL.search(value):
            yield _shown(path)


def _shown(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
