"""Provider profiles: a provider's facts as data (stacks/profiles/<name>.yaml), one typed model."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from components.model import Model, translate
from components.offer import Offer, Services
from ground.errors import ConfigError, ConfigErrors
from ground.paths import ROOT

PROFILE_DIR = ROOT / "stacks" / "profiles"
ROLES = ("bastion", "services", "data", "workspace", "k8s-control", "k8s-worker")
Role = Literal["bastion", "services", "data", "workspace", "k8s-control", "k8s-worker"]
# scs-0114: a volume type's aspects are ONE bracket at the START of its description, comma-
# separated and sorted (`[scs:encrypted, replicated] LUKS, 3 replicas`); SCS's own conformance
# test matches only that form, so a marker elsewhere in the text is not an aspect.
SCS_ASPECTS = re.compile(r"^\[scs:([^\]]*)\]")


class Region(Model):
    country: str = Field(pattern=r"^[A-Z]{2}$")
    eu: bool
    location: str = ""
    test: bool = False  # a loopback test cloud: allowed only by profiles marked testOnly


class VolumeType(Model):
    name: str
    description: str = ""
    encrypted: bool = False
    regions: list[str] | None = None  # where the type exists; None: every region of the profile

    @property
    def aspects(self) -> list[str]:
        """scs-0114 aspects of the description's leading bracket (`scs:` prefixes the first)."""
        m = SCS_ASPECTS.match(self.description)
        return [a.strip() for a in m.group(1).split(",")] if m else []

    @property
    def is_encrypted(self) -> bool:
        # Either stated in the profile, or discovered from the SCS description convention.
        return self.encrypted or "encrypted" in self.aspects

    def available_in(self, region: str) -> bool:
        return self.regions is None or region in self.regions


class Images(Model):
    allowed: list[str] = Field(min_length=1)
    default: str


class KubernetesProfile(Model):
    mode: Literal["magnum", "kubeadm"]


class ObjectStorage(Model):
    flavour: Literal["swift", "s3"] = "swift"
    versioning: bool = True


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
    services: Services
    offer: Offer | None = None  # None: nothing established, so never fit for health data

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
        for v in self.volume_types:
            unknown = sorted(set(v.regions or ()) - set(self.regions))
            if unknown:
                raise ValueError(f"volume type {v.name}: unknown region(s) {', '.join(unknown)}")
        for q in (self.offer.secnumcloud, self.offer.hds) if self.offer else ():
            unknown = sorted(set(q.regions or ()) - set(self.regions))
            if unknown:
                raise ValueError(f"offer: unknown region(s) {', '.join(unknown)}")
        if self.kubernetes.mode == "magnum" and not self.services.magnum:
            raise ValueError("kubernetes.mode is magnum but services.magnum is false")
        for name, region in self.regions.items():
            if region.test and not self.test_only:
                raise ValueError(f"region {name} is a test region but the profile is not testOnly")
        return self

    @property
    def encrypted_volume_types(self) -> list[str]:
        return [v.name for v in self.volume_types if v.is_encrypted]

    def volume_type(self, name: str) -> VolumeType | None:
        return next((v for v in self.volume_types if v.name == name), None)

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
