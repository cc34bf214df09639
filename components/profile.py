"""Provider profiles: a provider's facts as data (stacks/profiles/<name>.yaml), one typed model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from components.model import Model, translate
from components.offer import Offer, Services
from ground.errors import ConfigError, ConfigErrors
from ground.loader import load
from ground.names import IDENTIFIER, endpoint_problem, is_host
from ground.paths import ROOT

PROFILE_DIR = ROOT / "stacks" / "profiles"
COUNTRIES = ROOT / "stacks" / "countries.yaml"
ROLES = ("bastion", "services", "data", "workspace", "k8s-control", "k8s-worker")
Role = Literal["bastion", "services", "data", "workspace", "k8s-control", "k8s-worker"]
# scs-0114: a volume type's aspects are ONE bracket at the START of its description, comma-
# separated and sorted (`[scs:encrypted, replicated] LUKS, 3 replicas`); SCS's own conformance
# test matches only that form, so a marker elsewhere in the text is not an aspect.
SCS_ASPECTS = re.compile(r"^\[scs:([^\]]*)\]")


@cache
def countries() -> tuple[frozenset[str], frozenset[str]]:
    """(EU members, EEA-only members) from stacks/countries.yaml, the one source of membership."""
    doc = load(COUNTRIES, "yaml", _shown(COUNTRIES))
    eu, eea = frozenset(doc.get("eu") or ()), frozenset(doc.get("eeaOnly") or ())
    if len(eu) != 27 or eu & eea or not all(re.fullmatch(r"[A-Z]{2}", c) for c in eu | eea):
        raise ConfigError(_shown(COUNTRIES), "eu", "expected the 27 EU members as ISO codes")
    return eu, eea


class Region(Model):
    country: str = Field(pattern=r"^[A-Z]{2}$")
    # A claim the profile may make; never believed: the country decides (load_profile checks).
    eu: bool | None = None
    location: str = ""
    test: bool = False  # a loopback test cloud: allowed only by profiles marked testOnly
    s3_endpoint: str | None = None  # host of the region's S3-compatible storage (state backend)

    @field_validator("s3_endpoint")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not is_host(value):
            raise ValueError("not a host name")
        return value

    @property
    def in_eu(self) -> bool:
        """In an EU member state, by its ISO code (a test region is in no country)."""
        return not self.test and self.country in countries()[0]


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
    name: str = Field(pattern=IDENTIFIER)
    title: str
    test_only: bool = False
    auth_url: str | None = None  # the provider's Keystone endpoint: where its regions are
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

    @field_validator("auth_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and (problem := endpoint_problem(value)):
            raise ValueError(problem)
        return value

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
        return [n for n, r in self.regions.items() if r.in_eu or (r.test and self.test_only)]


def profile_path(name: str) -> Path:
    return PROFILE_DIR / f"{name}.yaml"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


@cache
def load_profile(name: str) -> Profile:
    """Load and check one profile; errors name the profile file and key."""
    if not isinstance(name, str) or not re.fullmatch(IDENTIFIER, name):
        raise ConfigError("stacks/profiles", "", "a profile name is a plain identifier (a-z0-9-)")
    path = profile_path(name)
    shown = _shown(path)
    if not path.is_file():
        raise ConfigError(shown, "", f"no such profile (have: {', '.join(available_profiles())})")
    data = load(path, "yaml", shown)
    if not isinstance(data, dict):
        raise ConfigError(shown, "", "a profile is a YAML mapping")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigErrors(translate(exc, shown)) from None
    errors = list(_claims(profile, shown))
    if profile.name != name:
        errors.append(ConfigError(shown, "name", f"{profile.name!r} differs from the file name"))
    if errors:
        raise ConfigErrors(errors)
    return profile


def _claims(profile: Profile, shown: str) -> Iterator[ConfigError]:
    """A region's `eu:` line must agree with its country: the list decides, not the claim."""
    eu, eea = countries()
    for name, r in profile.regions.items():
        if r.eu is None or r.eu == r.in_eu:
            continue
        if r.test:
            why = "a test region is in no country's jurisdiction"
        elif r.country in eea:
            why = f"{r.country} is in the EEA but not an EU member"
        elif r.country in eu:
            why = f"{r.country} is an EU member"
        else:
            why = f"{r.country} is not an EU member"
        yield ConfigError(
            shown,
            f"regions.{name}.eu",
            f"claims eu: {str(r.eu).lower()}, but {why} (stacks/countries.yaml decides)",
        )


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)
