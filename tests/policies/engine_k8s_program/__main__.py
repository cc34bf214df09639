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
container = k8s.core.v1.ContainerArgs(
    name="app",
    image="registry.example/app:1",
    security_context=k8s.core.v1.SecurityContextArgs(privileged=True),
)
k8s.apps.v1.Deployment(
    "privileged-app",
    metadata=k8s.meta.v1.ObjectMetaArgs(namespace="tools"),
    spec=k8s.apps.v1.DeploymentSpecArgs(
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": "a"}),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels={"app": "a"}),
            spec=k8s.core.v1.PodSpecArgs(containers=[container]),
        ),
    ),
    opts=opts,
)
k8s.core.v1.Service(
    "public-lb",
    metadata={"namespace": "tools"},
    spec={"type": "LoadBalancer", "selector": {"app": "a"}, "ports": [{"port": 443}]},
    opts=opts,
)
