"""Pods get no Kubernetes API token: no automount, no projected token, no token Secret."""

from collections.abc import Iterator
from typing import Any

from policies.checks import WORKLOAD_TYPES, namespace, pod_spec, token_uses
from policies.rule import Resource, Rule, Stack, each

SECRET = "kubernetes:core/v1:Secret"
TOKEN_TYPE = "kubernetes.io/service-account-token"
RULE = Rule(
    id="k8s-no-service-account-token",
    title="Pods hold no service-account token (automount off, none projected or read)",
    severity="high",
    enforcement="mandatory",
    frameworks=("anssi-containers", "hds-protection"),
    remediation="Drop automountServiceAccountToken: true, projected serviceAccountToken "
    "sources and service-account-token Secrets; workloads of a bubble need no API access.",
    resource_types=(*WORKLOAD_TYPES, SECRET),
    config=("psaExemptNamespaces",),
    scope="stack",
)


def check_stack(stack: Stack, cfg: dict[str, Any]) -> Iterator[tuple[Resource, str]]:
    exempt = set(cfg["psaExemptNamespaces"])
    tokens: set[tuple[str, str]] = set()
    for secret in stack.of_type(SECRET):
        ns = namespace(secret)
        if secret.get("type") == TOKEN_TYPE:
            tokens.add((ns, str(secret.get("metadata", "name"))))
            if ns not in exempt:
                yield secret, f"a service-account-token Secret in {ns}: a long-lived API token"
    for res in stack.of_types(*WORKLOAD_TYPES):
        ns = namespace(res)
        if ns not in exempt:
            names = {name for n, name in tokens if n == ns}
            yield from each(res, _uses(res, names))


def _uses(res: Resource, token_secrets: set[str]) -> Iterator[str]:
    where, spec = pod_spec(res) or ("", {})  # raises for a spec unknown in preview
    yield from token_uses(spec, where, token_secrets)
