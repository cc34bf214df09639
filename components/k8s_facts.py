"""Kubernetes facts as data (components/kubernetes.yaml): version, system namespaces, ports."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from components.model import Model, translate
from ground.errors import ConfigError, ConfigErrors

FACTS = Path(__file__).with_name("kubernetes.yaml")
NodeRole = Literal["k8s-control", "k8s-worker"]
# Who a port is open to; the firewall and the security groups resolve these names.
Source = Literal["control-plane", "nodes", "api-clients"]


class Addon(Model):
    image: str = Field(pattern=r"^[a-z0-9.-]+(/[a-z0-9._-]+)+:v[0-9][0-9A-Za-z.-]*$")
    name: str | None = None
    binary: str | None = None


class Addons(Model):
    cni: Addon
    cloud_controller: Addon
    kms_plugin: Addon
    csr_approver: Addon


class Port(Model):
    proto: Literal["tcp", "udp", "ipip"]
    ports: list[int] = Field(default=[], max_length=8)
    why: str = Field(min_length=5)
    from_: Source = Field(alias="from")


class Facts(Model):
    default_version: str = Field(pattern=r"^1\.\d+\.\d+$")
    supported_minors: list[str] = Field(min_length=1)
    psa_exempt_namespaces: list[str] = Field(min_length=1)
    addons: Addons
    node_packages: list[str]
    kubernetes_apt: str
    egress: list[str]
    ports: dict[NodeRole, list[Port]]


@cache
def facts() -> Facts:
    """The checked facts; a broken file is a ConfigError naming the file and key."""
    try:
        doc = yaml.safe_load(FACTS.read_text())
        return Facts.model_validate(doc)
    except yaml.YAMLError as exc:
        raise ConfigError(str(FACTS.name), "", f"not valid YAML: {exc}") from None
    except ValidationError as exc:
        raise ConfigErrors(translate(exc, f"components/{FACTS.name}")) from None


def psa_exempt_namespaces() -> list[str]:
    return list(facts().psa_exempt_namespaces)


def node_ports(role: NodeRole) -> list[Port]:
    return list(facts().ports[role])


def default_version() -> str:
    return facts().default_version


def supported_version(version: str) -> str:
    """The version if its minor is still supported upstream (a pydantic after-validator)."""
    minor = ".".join(version.split(".")[:2])
    supported = facts().supported_minors
    if minor not in supported:
        raise ValueError(
            f"Kubernetes {minor} is not a supported minor (supported: {', '.join(supported)})"
        )
    return version
