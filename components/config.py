"""The one typed model of a stack: stack file + profile -> StackConfig, or every error at once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, field_validator

from components.k8s_facts import default_version, supported_version
from components.limits import (
    TIERS as TIERS,  # the tiers' one definition, re-exported for the components
)
from components.limits import (
    admin_cidr_problems,
    overlap_problems,
    public_key_problem,
    tier_size_problems,
)
from components.model import Model, translate
from components.offer import REQUIREMENT, health_refusal, is_health
from components.profile import Profile, Role, countries, load_profile
from ground.errors import ConfigError, ConfigErrors
from ground.loader import load
from ground.names import DEPLOY_USER, IDENTIFIER, USER_NAME, endpoint_key, endpoint_problem
from ground.paths import ROOT

STACK_DIR = ROOT / "stacks"
DNS_LABEL = r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$"
UTC_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
CLASSIFICATION = r"^[a-z0-9-]{1,63}$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"  # a Kubernetes quantity
REGISTRY = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9._-]+)*$"  # host[:port][/path]
# Provider keys that hold credentials: they come from the environment or clouds.yaml, never a file.
CREDENTIAL_KEYS = {
    "password",
    "token",
    "applicationCredentialSecret",
    "applicationCredentialId",
    "key",
    "secretAccessKey",
}


def _text(value: Any) -> Any:
    # pydantic would read an integer (or `true`) as an address: 1 is 0.0.0.1/32.
    if not isinstance(value, str | IPv4Network):
        raise ValueError("expected a CIDR written as text, like 10.20.0.0/24")
    return value


Cidr = Annotated[IPv4Network, BeforeValidator(_text)]


class Tiers(Model):
    admin: Cidr
    services: Cidr
    data: Cidr
    processing: Cidr


class Bubble(Model):
    name: str = Field(pattern=DNS_LABEL)
    cidr: Cidr | None = None  # None: allocated from hdh:bubblePool by position
    workspaces: int = Field(default=1, ge=0, le=8)
    volume_size: int = Field(default=100, ge=1, le=16384)  # GB, encrypted data volume
    classification: str | None = Field(default=None, pattern=CLASSIFICATION)  # hdh:classification
    group: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$")


class BubblePool(Model):
    cidr: Cidr
    prefix_length: int = Field(default=24, ge=16, le=28)


class KubernetesSettings(Model):
    enabled: bool = False
    mode: Literal["magnum", "kubeadm"] | None = None  # default: the profile's mode
    control_plane_count: int = Field(default=3, ge=1, le=7)
    worker_count: int = Field(default=3, ge=1, le=200)
    # A supported minor only (components/kubernetes.yaml): end-of-life ones are refused.
    version: Annotated[str, AfterValidator(supported_version)] = Field(
        default_factory=default_version, pattern=r"^\d+\.\d+\.\d+$"
    )
    quota_cpu: str = Field(default="16", pattern=QUANTITY)
    quota_memory: str = Field(default="64Gi", pattern=QUANTITY)
    quota_pods: int = Field(default=50, ge=1)
    default_cpu: str = Field(default="500m", pattern=QUANTITY)
    default_memory: str = Field(default="1Gi", pattern=QUANTITY)
    quota_storage: str = Field(default="500Gi", pattern=QUANTITY)  # requests.storage per bubble
    # Node disk (layers, logs, emptyDir) and objects in etcd: one bubble must not exhaust either.
    quota_ephemeral_storage: str = Field(default="100Gi", pattern=QUANTITY)
    default_ephemeral_storage: str = Field(default="2Gi", pattern=QUANTITY)
    quota_objects: int = Field(default=100, ge=1, le=10000)  # each counted kind's cap
    # Overlay ranges: never routed by Neutron, but must not shadow a tier or bubble for the pods.
    pod_cidr: Cidr = IPv4Network("10.244.0.0/16")
    service_cidr: Cidr = IPv4Network("10.96.0.0/12")
    image: str | None = None  # magnum: the driver's node image (default ubuntu-2204-kube-v<ver>)
    # Image mirror (magnum: container_infra_prefix; kubeadm: <registry>/<upstream host>/<path>).
    registry: str | None = Field(default=None, pattern=REGISTRY)
    apt_url: str | None = Field(default=None, pattern=r"^https?://[A-Za-z0-9.:/_~%-]+$")  # kubeadm
    bootstrap_timeout: int = Field(default=30, ge=5, le=240)  # kubeadm: minutes to wait for the API


# An egress allow-list entry: a domain (leading dot: and its subdomains) or an IPv4 CIDR. It is
# written into the proxy's configuration: nothing but these characters may get there.
EGRESS_ENTRY = r"^(\.?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]+|[0-9./]+)$"


class ServicesSettings(Model):
    """The services tier's ports and the stack's additions to the proxy's allow-list."""

    cache_port: int = Field(default=3142, ge=1, le=65535)  # apt-cacher-ng
    log_port: int = Field(default=6514, ge=1, le=65535)  # syslog over TLS (RFC 5425)
    metrics_port: int = Field(default=9100, ge=1, le=65535)  # node exporter on every host
    egress_allow: list[str] = Field(default=[], max_length=256)

    @field_validator("egress_allow")
    @classmethod
    def _entries(cls, entries: list[str]) -> list[str]:
        for e in entries:
            if not re.match(EGRESS_ENTRY, e) or len(e) > 253:
                raise ValueError(f"{e!r}: not a domain name or an IPv4 CIDR")
            if e[0].isdigit() and "/" in e:
                IPv4Network(e)  # a bad CIDR raises ValueError with its reason
        return entries


class BackupSettings(Model):
    """Scheduled backups of the data tier's and the bubbles' volumes (docs/services.md)."""

    enabled: bool = True
    # systemd OnCalendar expression on the services hosts (the backup job's timer).
    schedule: str = Field(default="*-*-* 02:30:00", pattern=r"^[0-9*:/ ,.~-]+$")
    keep_daily: int = Field(default=7, ge=1, le=366)
    keep_weekly: int = Field(default=4, ge=0, le=520)
    incremental: bool = True  # Cinder backups after the first full one (ignored for snapshots)


class Settings(Model):
    """The hdh:* keys of a stack file (camelCase there, snake_case here)."""

    profile: str = Field(pattern=IDENTIFIER)  # a name under stacks/profiles, never a path
    tiers: Tiers
    ssh_public_key: str
    bubbles: list[Bubble] = []
    bubble_pool: BubblePool | None = None
    admin_cidrs: list[Cidr] = []
    deploy_user: str = Field(default=DEPLOY_USER, pattern=USER_NAME)
    classification: str = Field(default="health-pseudonymised", pattern=CLASSIFICATION)
    volume_type: str | None = None
    image: str | None = None
    image_id: str | None = Field(default=None, pattern=r"^[0-9a-f-]{36}$")
    external_network_id: str | None = Field(default=None, pattern=r"^[0-9a-f-]{36}$")
    flavors: dict[Role, str] = {}
    services_count: int = Field(default=2, ge=1, le=5)
    data_hosts: int = Field(default=1, ge=0, le=5)
    data_volume_size: int = Field(default=500, ge=1, le=65536)
    boot_volume_size: int = Field(default=20, ge=10, le=1024)
    proxy_port: int = Field(default=3128, ge=1, le=65535)
    services: ServicesSettings = ServicesSettings()
    backups: BackupSettings = BackupSettings()
    kubernetes: KubernetesSettings = KubernetesSettings()
    # Throwaway stacks (hdh env) only: UTC expiry, tagged on every taggable resource.
    expires_at: str | None = Field(default=None, pattern=UTC_TIME)

    @field_validator("expires_at")
    @classmethod
    def _real_time(cls, value: str | None) -> str | None:
        try:
            if value is not None:
                datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            raise ValueError("no such date or time (UTC, like 2026-12-04T18:00:00Z)") from None
        return value

    @field_validator("ssh_public_key", mode="before")
    @classmethod
    def _public_key(cls, value: Any) -> Any:
        # The message never repeats the value: a private key pasted here must not be echoed.
        if problem := public_key_problem(value):
            raise ValueError(problem)
        return value.strip()


@dataclass(frozen=True)
class ResolvedBubble:
    """A bubble with everything decided: its CIDR and classification."""

    name: str
    cidr: IPv4Network
    workspaces: int
    volume_size: int
    classification: str
    group: str


@dataclass(frozen=True)
class StackConfig:
    stack: str
    path: str  # the stack file, as shown in messages
    region: str
    auth_url: str | None
    profile: Profile
    settings: Settings
    bubbles: tuple[ResolvedBubble, ...]

    @property
    def volume_type(self) -> str:
        return self.settings.volume_type or self.profile.default_volume_type

    @property
    def image(self) -> str:
        return self.settings.image or self.profile.images.default

    def flavor(self, role: Role) -> str:
        return self.settings.flavors.get(role) or self.profile.flavors[role]

    @property
    def kubernetes_mode(self) -> str:
        return self.settings.kubernetes.mode or self.profile.kubernetes.mode


def stack_path(stack: str) -> Path:
    return STACK_DIR / f"Pulumi.{stack}.yaml"


def available_stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in STACK_DIR.glob("Pulumi.*.yaml"))


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def project_defaults() -> dict[str, str]:
    """Defaults declared in Pulumi.yaml, in the engine's shape (the engine injects these too)."""
    doc = load(ROOT / "Pulumi.yaml", "yaml", "Pulumi.yaml")
    out: dict[str, str] = {}
    for key, spec in (doc.get("config") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            out[key if ":" in key else f"hdh:{key}"] = _engine_string(spec["default"])
    return out


def _engine_string(value: Any) -> str:
    """Config values as the engine hands them to a program: objects as JSON, scalars as text."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_stack_file(stack: str, path: Path | None = None) -> tuple[dict[str, str], set[str]]:
    """Raw config of a stack file in the engine's shape, and the keys holding secure values."""
    path = path or stack_path(stack)
    where = shown(path)
    if not path.is_file():
        have = ", ".join(available_stacks()) or "none"
        raise ConfigError(where, "", f"no such stack file (stacks here: {have})")
    doc = load(path, "yaml", where) or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("config") or {}, dict):
        raise ConfigError(where, "config", "a stack file is a mapping with a `config:` mapping")
    raw: dict[str, str] = {}
    secrets: set[str] = set()
    for key, value in (doc.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            secrets.add(key)
            raw[key] = "[secret]"  # ciphertext: the plan never needs (nor sees) the plaintext
        else:
            raw[key] = _engine_string(value)
    return raw, secrets


def _decode(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def build(raw: Mapping[str, str], stack: str, path: str, secret_keys: set[str]) -> StackConfig:
    """Check the raw config of one stack and return the model, or raise every error at once."""
    errors: list[ConfigError] = []
    for key, value in raw.items():
        ns, _, name = key.partition(":")
        if ns == "openstack" and name in CREDENTIAL_KEYS and key not in secret_keys and value:
            errors.append(
                ConfigError(
                    path,
                    key,
                    "credentials never go in a stack file: use OS_* variables or clouds.yaml",
                )
            )
    # Empty values are the "not set" defaults Pulumi.yaml declares for optional keys.
    values = {
        k.partition(":")[2]: _decode(v)
        for k, v in raw.items()
        if k.startswith("hdh:") and v not in ("", "{}", "null")
    }
    region = raw.get("openstack:region")
    if not region:
        errors.append(ConfigError(path, "openstack:region", "required key is missing"))
    auth_url = raw.get("openstack:authUrl") or None
    if auth_url and "openstack:authUrl" not in secret_keys and (p := endpoint_problem(auth_url)):
        errors.append(ConfigError(path, "openstack:authUrl", p))
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigErrors(errors + translate(exc, path, "hdh:")) from None
    try:
        profile = load_profile(settings.profile)
    except ConfigError as exc:
        errors.append(ConfigError(path, "hdh:profile", f"{settings.profile!r}: {exc.msg}"))
        raise ConfigErrors(errors) from None
    errors += list(_check_against_profile(settings, profile, region, path))
    if not auth_url and not profile.auth_url:
        # The endpoint is what shows whose region this is; the environment's could be anyone's.
        errors.append(
            ConfigError(path, "openstack:authUrl", f"profile {profile.name} names no authUrl")
        )
    if auth_url and profile.auth_url and not errors and not _same(auth_url, profile.auth_url):
        errors.append(
            ConfigError(
                path,
                "openstack:authUrl",
                f"not the endpoint of profile {profile.name} ({profile.auth_url}): "
                "an endpoint is a provider fact, set it in the profile",
            )
        )
    bubbles, bubble_errors = _resolve_bubbles(settings, path)
    errors += bubble_errors
    errors += [ConfigError(path, k, m) for k, m in overlap_problems(settings, bubbles)]
    errors += [ConfigError(path, k, m) for k, m in admin_cidr_problems(settings.admin_cidrs)]
    errors += [ConfigError(path, k, m) for k, m in tier_size_problems(settings, bubbles)]
    if region:
        errors += list(_check_offer(settings, bubbles, profile, region, path))
    errors += list(_check_services(settings, path))
    if errors:
        raise ConfigErrors(errors)
    assert region is not None
    return StackConfig(
        stack=stack,
        path=path,
        region=region,
        auth_url=auth_url or profile.auth_url,
        profile=profile,
        settings=settings,
        bubbles=tuple(bubbles),
    )


def _same(url: str, other: str) -> bool:
    return endpoint_key(url) == endpoint_key(other)


def load_stack(stack: str, path: Path | None = None) -> StackConfig:
    """Read, default and check a stack file the way the engine would hand it to the program."""
    file = path or stack_path(stack)
    raw, secrets = read_stack_file(stack, file)
    return build({**project_defaults(), **raw}, stack, shown(file), secrets)


def _check_against_profile(
    s: Settings, p: Profile, region: str | None, path: str
) -> Iterator[ConfigError]:
    if region:
        known = p.regions.get(region)
        if known is None:
            yield ConfigError(
                path,
                "openstack:region",
                f"unknown region {region!r} for profile {p.name} "
                f"(EU regions: {', '.join(p.allowed_regions())})",
            )
        elif region not in p.allowed_regions():
            yield ConfigError(
                path,
                "openstack:region",
                f"region {region} ({known.location}, {known.country}) is outside the EU",
            )
    # scs-0123 makes these optional; the platform's keys and containers need them.
    for needed, have in (
        ("key manager (Barbican), which the data keys need", p.services.key_manager),
        ("object storage (Swift), which the containers need", p.services.object_storage),
    ):
        if not have:
            yield ConfigError(path, "hdh:profile", f"profile {p.name} declares no {needed}")
    if s.kubernetes.enabled and s.kubernetes.mode == "magnum" and not p.services.magnum:
        yield ConfigError(
            path, "hdh:kubernetes.mode", f"magnum: profile {p.name} declares no Magnum service"
        )
    chosen = p.volume_type(s.volume_type or p.default_volume_type)
    if region and region in p.regions and chosen is not None and not chosen.available_in(region):
        where = ", ".join(chosen.regions or ())
        yield ConfigError(
            path,
            "hdh:volumeType",
            f"volume type {chosen.name!r} does not exist in region {region} (only in {where}): "
            "pick a region where it exists, or another encrypted type of the profile",
        )
    if s.volume_type is not None:
        if s.volume_type not in {v.name for v in p.volume_types}:
            yield ConfigError(path, "hdh:volumeType", f"unknown volume type {s.volume_type!r}")
        elif s.volume_type not in p.encrypted_volume_types:
            yield ConfigError(
                path,
                "hdh:volumeType",
                f"volume type {s.volume_type!r} is not encrypted "
                f"(encrypted: {', '.join(p.encrypted_volume_types)})",
            )
    if s.image is not None and s.image not in p.images.allowed:
        yield ConfigError(path, "hdh:image", f"image {s.image!r} is not in the profile allow-list")
    for role, flavor in s.flavors.items():
        if flavor not in p.all_flavors:
            yield ConfigError(
                path, f"hdh:flavors.{role}", f"unknown flavor {flavor!r} for profile {p.name}"
            )


def _check_offer(
    s: Settings, bubbles: list[ResolvedBubble], p: Profile, region: str, path: str
) -> Iterator[ConfigError]:
    """Health data only on a SecNumCloud-qualified, HDS-certified offer under EU law."""
    if region not in p.regions:
        return  # already reported as an unknown region
    why = health_refusal(p.offer, region, countries()[0])
    if why is None:
        return
    wanted = [("hdh:classification", s.classification)] if is_health(s.classification) else []
    index = {b.name: i for i, b in enumerate(s.bubbles)}
    wanted += [
        (f"hdh:bubbles[{index[b.name]}].classification", b.classification)
        for b in bubbles
        if is_health(b.classification) and s.bubbles[index[b.name]].classification is not None
    ]
    for key, value in wanted:
        yield ConfigError(
            path,
            key,
            f"health data ({value}) needs a SecNumCloud-qualified, HDS-certified offer under EU "
            f"law ({REQUIREMENT}): {why}; use a qualified profile or a non-health classification",
        )


def _check_services(s: Settings, path: str) -> Iterator[ConfigError]:
    """The services tier's ports: each flow its own port (SSH and NTP are taken)."""
    seen = {22: "SSH", 123: "NTP"}
    for key, port in (
        ("hdh:proxyPort", s.proxy_port),
        ("hdh:services.cachePort", s.services.cache_port),
        ("hdh:services.logPort", s.services.log_port),
        ("hdh:services.metricsPort", s.services.metrics_port),
    ):
        if port in seen:
            yield ConfigError(path, key, f"port {port} is already {seen[port]}'s")
        seen.setdefault(port, key)


def _resolve_bubbles(s: Settings, path: str) -> tuple[list[ResolvedBubble], list[ConfigError]]:
    errors: list[ConfigError] = []
    out: list[ResolvedBubble] = []
    seen: dict[str, int] = {}
    taken = {b.cidr for b in s.bubbles if b.cidr is not None}
    pool = (
        (n for n in s.bubble_pool.cidr.subnets(new_prefix=s.bubble_pool.prefix_length))
        if s.bubble_pool and s.bubble_pool.prefix_length >= s.bubble_pool.cidr.prefixlen
        else iter(())
    )
    for i, b in enumerate(s.bubbles):
        if b.name in seen:
            errors.append(
                ConfigError(
                    path,
                    f"hdh:bubbles[{i}].name",
                    f"duplicate bubble name {b.name!r} (also bubbles[{seen[b.name]}])",
                )
            )
        seen.setdefault(b.name, i)
        cidr = b.cidr
        if cidr is None:
            if s.bubble_pool is None:
                errors.append(
                    ConfigError(
                        path, f"hdh:bubbles[{i}].cidr", "required when hdh:bubblePool is not set"
                    )
                )
                continue
            cidr = next((n for n in pool if n not in taken), None)
            if cidr is None:
                wanted = sum(1 for x in s.bubbles if x.cidr is None)
                errors.append(
                    ConfigError(
                        path,
                        "hdh:bubblePool.cidr",
                        f"{s.bubble_pool.cidr} has no free /{s.bubble_pool.prefix_length} left "
                        f"from bubbles[{i}] ({b.name}) on: {wanted} bubbles take their CIDR "
                        "from the pool; widen it or lengthen prefixLength",
                    )
                )
                break
        out.append(
            ResolvedBubble(
                name=b.name,
                cidr=cidr,
                workspaces=b.workspaces,
                volume_size=b.volume_size,
                classification=b.classification or s.classification,
                group=b.group or f"hdh-bubble-{b.name}",
            )
        )
    return out, errors
