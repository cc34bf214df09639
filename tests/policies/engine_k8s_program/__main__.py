"""Kubernetes objects deployed for real with no cluster: the provider renders them to YAML.

`pulumi up` then leaves a genuine stack (deployment v3) whose `pulumi stack export` the policy
check reads (tests/policies/test_engine_pack.py).
"""

import pulumi
import pulumi_kubernetes as k8s

out = pulumi.Config("probe").require("renderDir")
render = k8s.Provider("render", render_yaml_to_directory=out)
opts = pulumi.ResourceOptions(provider=render)
labels = {"pod-security.kubernetes.io/enforce": "restricted", "hdh/bubble": "a"}
k8s.core.v1.Namespace("bubble-ns", metadata={"name": "bubble-a", "labels": labels}, opts=opts)
k8s.core.v1.Namespace("open-ns", metadata={"name": "tools"}, opts=opts)
k8s.core.v1.Secret(
    "token", metadata={"name": "token", "namespace": "tools"}, string_data={"t": "x"}, opts=opts
)
container = {
    "name": "app",
    "image": "registry.example/app:1",
    "securityContext": {"privileged": True},
}
k8s.apps.v1.Deployment(
    "privileged-app",
    metadata={"namespace": "tools"},
    spec={
        "selector": {"matchLabels": {"app": "a"}},
        "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [container]}},
    },
    opts=opts,
)
k8s.core.v1.Service(
    "public-lb",
    metadata={"namespace": "tools"},
    spec={"type": "LoadBalancer", "selector": {"app": "a"}, "ports": [{"port": 443}]},
    opts=opts,
)
