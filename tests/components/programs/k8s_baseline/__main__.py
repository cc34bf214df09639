"""The platform's KubernetesBaseline component alone, for a stack file, onto a given cluster."""

from pathlib import Path

import pulumi

from components.config import load_stack
from components.k8s_baseline import BaselineArgs, KubernetesBaseline

config = pulumi.Config()
cfg = load_stack(config.require("stack"), Path(config.require("stackFile")))
KubernetesBaseline(
    "hdh-k8s-baseline",
    BaselineArgs(cfg=cfg, kubeconfig=config.require_secret("kubeconfig")),
)
