"""Provider profiles: a provider's facts as data (stacks/profiles/<name>.yaml), one typed model."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from components.model import Model, translate
from ground.errors import ConfigError, ConfigErrors
from ground.paths import ROOT

PROFILE_DIR = ROOT / "stacks" / "profiles"
ROLES = ("bastion", "services", "data", "workspace", "k8s-control", "k8s-worker")
Role = Literal["bastion", "services", "data", "workspace", "k8s-control", "k8s-worker"]
SCS_ENCRYPTED = "[scs:encrypted]"  # scs-0114: the marker of an encrypted volume type


class Region(Model):
    country: str = Field(pattern=r"^[A-Z]{2}$")
    eu: bool
    location: str = ""
    test: bool = False  # a loopback test cloud: allowed only by profiles marked testOnly


class VolumeType(Model):
    name: str
    description: str = ""
    encrypted: bool = False

    @property
    def is_encrypted(self) -> bool:
        # Either stated in the profile, or discovered from the SCS description convention.
        return self.encrypted or SCS_ENCRYPTED in self.description


class Images(Model):
    allowed: list[str] = Field(min_length=1)
    default: str


class KubernetesProfile(Model):
    mode: Literal["magnum", "kubeadm"]


class ObjectStorage(Model):
    flavour: Literal["swift", "s3"] = "swift"
    versioning: bool = True


class BackupsProfile(Model):
    """What the provider offers to back volumes up: Cinder backups (kept by the provider's backup
    service, in the region) or only snapshots (beside the volume), or nothing."""

    kind: Literal["cinder-backup", "snapshot", "none"] = "snapshot"
    note: str = ""  # where the fact comes from
    # The block storage service type in the catalog (what the backup credential's access rules
    # name) and the one role the credential carries (Cinder lets a project member back up).
    service_type: str = Field(default="volumev3", pattern=r"^[a-z0-9-]+$")
    role: str = Field(default="member", pattern=r"^[A-Za-z0-9_-]+$")


class Profile(Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str
    test_only: bool = False
    auth_url: str | None = None
    regions: dict[str, Region] = Field(min_length=1)
    volume_types: list[VolumeType] = Field(min_length=1)
    default_volume_type: str
    images: Images
    flavors: dict[Role, str]
    extra_flavors: list[str] = []
    external_network: str
    kubernetes: KubernetesProfile
    object_storage: ObjectStorage = ObjectStorage()
    backups: BackupsProfile = BackupsProfile()
    # The provider's API endpoints internal hosts may reach through the proxy (object storage,
    # identity): added to the proxy's allow-list (domains, a leading dot for subdomains).
    egress_allow: list[str] = []

    @model_validator(mode="after")
    def _coherent(self) -> Profile:
        if self.default_volume_type not in self.encrypted_volume_types:
            raise ValueError(
                f"defaultVolumeType {self.default_volume_type!r} is not an encrypted volume type"
            )
        if self.images.default not in self.images.allowed:
            raise ValueError(f"images.default {self.images.default!r} is not in images.allowed")
        missing = [r for r in ROLES if r not in self.flavors]
        if missing:
            raise ValueError(f"flavors has no entry for role(s) {', '.join(missing)}")
        for name, region in self.regions.items():
            if region.test and not self.test_only:
                raise ValueError(f"region {name} is a test region but the profile is not testOnly")
        return self

    @property
    def encrypted_volume_types(self) -> list[str]:
        return [v.name for v in self.volume_types if v.is_encrypted]

    @property
    def all_flavors(self) -> set[str]:
        return set(self.flavors.values()) | set(self.extra_flavors)

    def allowed_regions(self) -> list[str]:
        """Regions a stack of this profile may use: EU ones, plus test ones for test profiles."""
        return [n for n, r in self.regions.items() if r.eu or (r.test and self.test_only)]


def profile_path(name: str) -> Path:
    return PROFILE_DIR / f"{name}.yaml"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


@cache
def load_profile(name: str) -> Profile:
    """Load and check one profile; errors name the profile file and key."""
    path = profile_path(name)
    shown = _shown(path)
    if not path.is_file():
        raise ConfigError(shown, "", f"no such profile (have: {', '.join(available_profiles())})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(shown, "", f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(shown, "", "a profile is a YAML mapping")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigErrors(translate(exc, shown)) from None


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
