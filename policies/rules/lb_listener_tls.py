"""Load balancer listeners carry TLS; clear HTTP only to redirect, clear TCP only as passthrough."""

from collections.abc import Iterator
from typing import Any

from policies.rule import Resource, Rule, Stack

RULE = Rule(
    id="lb-listener-tls",
    title="Load balancer listeners use HTTPS/TLS (redirect-only HTTP, TLS passthrough TCP)",
    severity="high",
    enforcement="mandatory",
    frameworks=("snc-encryption-in-transit", "hds-protection"),
    remediation="Use TERMINATED_HTTPS (Barbican certificate) or HTTPS; keep HTTP only with an "
    "L7 policy redirecting to https:// and no default pool; tag a TLS-passthrough TCP listener "
    "tls=passthrough.",
    resource_types=("openstack:loadbalancer/listener:Listener",),
    scope="stack",
    reads=("openstack:loadbalancer/l7PolicyV2:L7PolicyV2",),
)
L7 = RULE.reads[0]
REDIRECTS = ("REDIRECT_TO_URL", "REDIRECT_PREFIX")


def check_stack(stack: Stack, cfg: dict[str, Any]) -> Iterator[tuple[Resource, str]]:
    redirecting = {
        target.urn
        for p in stack.of_type(L7)
        if p.get("action") in REDIRECTS
        and str(p.get("redirectUrl") or p.get("redirectPrefix") or "").startswith("https://")
        and (target := stack.ref(p, "listenerId")) is not None
    }
    for res in stack.of_type(RULE.resource_types[0]):
        protocol = res.get("protocol")
        if protocol == "HTTP":
            if res.urn not in redirecting:
                yield res, "clear HTTP listener that does not only redirect to https://"
            elif res.get("defaultPoolId"):
                yield res, "HTTP listener redirects but also serves a default pool in clear"
        elif protocol == "TCP" and res.tags().get("tls") != "passthrough":
            yield res, "clear TCP listener not declared TLS passthrough (tag tls=passthrough)"
