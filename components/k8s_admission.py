"""Cluster-wide ValidatingAdmissionPolicies: internal load balancers, no external IPs, no tokens."""

from __future__ import annotations

from typing import Any

BUBBLE_LABEL = "hdh/bubble"  # on each bubble namespace; the token policy's binding selects on it
INTERNAL_LB_ANNOTATION = "service.beta.kubernetes.io/openstack-internal-load-balancer"
_META = {"labels": {"app.kubernetes.io/managed-by": "hdh"}}
_LB = f"'{INTERNAL_LB_ANNOTATION}'"
# Who creates each namespace's `default` account, bare: the service-account controller (as its
# own account when kube-controller-manager uses per-controller credentials, as kubeadm sets up).
_SA_CONTROLLERS = (
    "['system:serviceaccount:kube-system:service-account-controller', "
    "'system:kube-controller-manager']"
)


def _policy(name: str, resources: list[str], validations: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, **_META},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": resources,
                    }
                ]
            },
            "validations": validations,
        },
    }


def admission_policies() -> list[dict[str, Any]]:
    """What the API server refuses to everyone (ValidatingAdmissionPolicy, GA since 1.30).

    - hdh-internal-load-balancers: a Service of type LoadBalancer carries the OpenStack CCM's
      internal annotation (no public VIP);
    - hdh-no-external-ips: no Service sets `externalIPs` (CVE-2020-8554: whoever may create a
      Service could capture traffic to any address). kubeadm clusters also run the
      DenyServiceExternalIPs plugin; Magnum clusters do not, and this policy is their guard;
    - hdh-bubble-no-service-account-token: in bubble namespaces no pod holds a service-account
      token by any route. The pod is judged after the ServiceAccount admission plugin has added
      its token volume, so automounting (through any account, a recreated `default` included),
      a hand-written projected `serviceAccountToken` volume and token Secrets are all refused.
    """
    lb = (
        "!has(object.spec.type) || object.spec.type != 'LoadBalancer' || "
        f"(has(object.metadata.annotations) && {_LB} in object.metadata.annotations && "
        f"object.metadata.annotations[{_LB}] == 'true')"
    )
    pods = "request.resource.resource != 'pods'"
    token_volume = (
        "object.spec.volumes.exists(v, has(v.projected) && has(v.projected.sources) && "
        "v.projected.sources.exists(s, has(s.serviceAccountToken)))"
    )
    return [
        _policy(
            "hdh-internal-load-balancers",
            ["services"],
            [
                {
                    "expression": lb,
                    "message": "a LoadBalancer Service must be internal: "
                    f'{INTERNAL_LB_ANNOTATION}: "true"',
                }
            ],
        ),
        _policy(
            "hdh-no-external-ips",
            ["services"],
            [
                {
                    "expression": "!has(object.spec.externalIPs) || "
                    "size(object.spec.externalIPs) == 0",
                    "message": "Services may not set externalIPs (CVE-2020-8554)",
                }
            ],
        ),
        _policy(
            "hdh-bubble-no-service-account-token",
            ["pods", "serviceaccounts", "secrets"],
            [
                {
                    "expression": f"{pods} || !has(object.spec.automountServiceAccountToken) || "
                    "object.spec.automountServiceAccountToken == false",
                    "message": "pods of a bubble do not mount a service-account token",
                },
                {
                    "expression": f"{pods} || !has(object.spec.volumes) || !{token_volume}",
                    "message": "pods of a bubble hold no service-account token (set "
                    "automountServiceAccountToken: false; no projected serviceAccountToken)",
                },
                {
                    "expression": "request.resource.resource != 'serviceaccounts' || "
                    "(has(object.automountServiceAccountToken) && "
                    "object.automountServiceAccountToken == false) || "
                    f"(request.operation == 'CREATE' && object.metadata.name == 'default' && "
                    f"request.userInfo.username in {_SA_CONTROLLERS})",
                    "message": "service accounts of a bubble set automountServiceAccountToken"
                    ": false",
                },
                {
                    "expression": "request.resource.resource != 'secrets' || !has(object.type) "
                    "|| object.type != 'kubernetes.io/service-account-token'",
                    "message": "no service-account token Secret in a bubble",
                },
            ],
        ),
    ]


def admission_bindings() -> list[dict[str, Any]]:
    """Deny on every policy; the token policy only in namespaces labelled as bubbles."""
    out = []
    for policy in admission_policies():
        name = policy["metadata"]["name"]
        spec: dict[str, Any] = {"policyName": name, "validationActions": ["Deny"]}
        if name == "hdh-bubble-no-service-account-token":
            spec["matchResources"] = {
                "namespaceSelector": {
                    "matchExpressions": [{"key": BUBBLE_LABEL, "operator": "Exists"}]
                }
            }
        out.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name, **_META},
                "spec": spec,
            }
        )
    return out
