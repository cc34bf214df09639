"""Qualification as data: health data only on a qualified, certified offer under EU law; volume
types per region; scs-0114 aspects; hostile offer facts refused with file and key."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import components.profile as profile_mod
from components.config import load_stack
from components.offer import health_refusal
from components.profile import VolumeType, countries, load_profile
from ground.errors import ConfigErrors
from ground.paths import ROOT

REQ = "SecNumCloud 3.2 §19.6, HDS v2 req. 28-31"


def stack_file(tmp_path: Path, stack: str, **config: Any) -> Path:
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    doc["config"].update(config)
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def errors(stack: str, path: Path) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        load_stack(stack, path)
    return info.value.lines()


@pytest.mark.parametrize("stack", ["ovh-gra", "ovh-sbg", "scs-de", "local", "ovh-pod"])
def test_health_data_refused_on_every_committed_offer(tmp_path: Path, stack: str) -> None:
    path = stack_file(tmp_path, stack, **{"hdh:classification": "health-pseudonymised"})
    lines = errors(stack, path)
    assert any(f"{path}: hdh:classification: health data" in ln and REQ in ln for ln in lines)


def test_the_reason_is_named(tmp_path: Path) -> None:
    gra = errors("ovh-gra", stack_file(tmp_path, "ovh-gra", **{"hdh:classification": "health"}))
    assert "OVHcloud Public Cloud in GRA11 is not SecNumCloud-qualified" in gra[0]
    pod = errors("ovh-pod", stack_file(tmp_path, "ovh-pod", **{"hdh:classification": "health"}))
    assert pod[0].endswith(
        "OVHcloud Bare Metal Pod (SecNumCloud) in POD-FR-1 has no established HDS certification; "
        "use a qualified profile or a non-health classification"
    )


def test_a_bubble_holding_health_data_is_named(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.ovh-gra.yaml").read_text())
    bubbles = doc["config"]["hdh:bubbles"]
    bubbles[2]["classification"] = "health-restricted"
    path = stack_file(tmp_path, "ovh-gra", **{"hdh:bubbles": bubbles})
    lines = errors("ovh-gra", path)
    assert len(lines) == 1 and ": hdh:bubbles[2].classification: health data" in lines[0]


@pytest.fixture
def certified_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the profiles where ovh-pod's HDS certificate is recorded."""
    profiles = tmp_path / "profiles"
    shutil.copytree(ROOT / "stacks" / "profiles", profiles)
    doc = yaml.safe_load((profiles / "ovh-pod.yaml").read_text())
    doc["offer"]["hds"].update(granted=True, source="HDS certificate scope (test)", note="")
    (profiles / "ovh-pod.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setattr(profile_mod, "PROFILE_DIR", profiles)
    load_profile.cache_clear()
    yield profiles
    load_profile.cache_clear()


def test_health_data_accepted_once_the_offer_is_certified(
    tmp_path: Path, certified_profiles: Path
) -> None:
    path = stack_file(tmp_path, "ovh-pod", **{"hdh:classification": "health-pseudonymised"})
    cfg = load_stack("ovh-pod", path)
    assert cfg.settings.classification == "health-pseudonymised"
    # ... but only in the regions the certificate covers.
    doc = yaml.safe_load((certified_profiles / "ovh-pod.yaml").read_text())
    doc["regions"]["POD-FR-2"] = {"country": "FR", "eu": True, "location": "second"}
    doc["offer"]["hds"]["regions"] = ["POD-FR-1"]
    (certified_profiles / "ovh-pod.yaml").write_text(yaml.safe_dump(doc))
    load_profile.cache_clear()
    other = stack_file(
        tmp_path, "ovh-pod", **{"hdh:classification": "health", "openstack:region": "POD-FR-2"}
    )
    assert "is HDS-certified, but not in region POD-FR-2" in errors("ovh-pod", other)[0]


def test_operator_outside_the_eu_is_refused() -> None:
    offer = load_profile("ovh-pod").offer
    assert offer is not None
    granted = offer.model_copy(
        update={
            "hds": offer.hds.model_copy(update={"granted": True}),
            "operator": offer.operator.model_copy(update={"jurisdiction": "US"}),
        }
    )
    eu = countries()[0]
    assert health_refusal(granted, "POD-FR-1", eu) == (
        "OVHcloud Bare Metal Pod (SecNumCloud) in POD-FR-1 "
        "is operated under US law (outside the EU)"
    )
    assert health_refusal(None, "X", eu) is not None


def test_luks_types_exist_only_where_ovhcloud_has_them(tmp_path: Path) -> None:
    lines = errors("ovh-gra", stack_file(tmp_path, "ovh-gra", **{"openstack:region": "WAW1"}))
    assert any(
        ": hdh:volumeType: volume type 'high-speed-luks' does not exist in region WAW1" in ln
        for ln in lines
    ), lines
    ok = stack_file(tmp_path, "ovh-gra", **{"openstack:region": "DE1"})
    assert load_stack("ovh-gra", ok).region == "DE1"


@pytest.mark.parametrize(
    ("description", "encrypted"),
    [
        ("[scs:encrypted] LUKS", True),
        ("[scs:encrypted, replicated] LUKS, 3 replicas", True),
        ("[scs:replicated, encrypted] unsorted but still an aspect", True),
        ("[scs:replicated] replicated only", False),
        ("LUKS volumes [scs:encrypted]", False),  # not at the start: not an aspect (scs-0114)
        ("[scs:encryptedx] typo", False),
        (" [scs:encrypted] leading space", False),
        ("", False),
    ],
)
def test_scs_0114_aspects(description: str, encrypted: bool) -> None:
    assert VolumeType(name="t", description=description).is_encrypted is encrypted


def test_us_regions_carry_their_ovhcloud_us_names() -> None:
    regions = load_profile("ovh").regions
    assert {"US-EAST-VA-1", "US-WEST-OR-1"} <= set(regions)
    assert "US-EAST-VA" not in regions and not regions["US-EAST-VA-1"].eu


def bad_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Any) -> list[str]:
    profiles = tmp_path / "profiles"
    shutil.copytree(ROOT / "stacks" / "profiles", profiles)
    doc = yaml.safe_load((profiles / "ovh-pod.yaml").read_text())
    edit(doc)
    (profiles / "ovh-pod.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setattr(profile_mod, "PROFILE_DIR", profiles)
    load_profile.cache_clear()
    try:
        with pytest.raises(ConfigErrors) as info:
            load_profile("ovh-pod")
    finally:
        load_profile.cache_clear()
    return info.value.lines()


@pytest.mark.parametrize(
    ("edit", "key", "words"),
    [
        (lambda d: d["offer"]["hds"].update(granted="yes"), "offer.hds.granted", "boolean"),
        (lambda d: d["offer"]["secnumcloud"].pop("source"), "offer.secnumcloud.source", "missing"),
        (lambda d: d["offer"]["hds"].update(checked="recently"), "offer.hds.checked", "pattern"),
        (lambda d: d["offer"]["operator"].update(jurisdiction="France"), "offer.operator", ""),
        (lambda d: d["offer"]["hds"].update(regions=["MARS-1"]), "", "unknown region(s) MARS-1"),
        (lambda d: d.pop("services"), "services", "missing"),
        (lambda d: d["kubernetes"].update(mode="magnum"), "", "services.magnum is false"),
        (lambda d: d["volumeTypes"][1].update(regions=["X"]), "", "unknown region(s) X"),
    ],
)
def test_hostile_offer_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Any, key: str, words: str
) -> None:
    lines = bad_profile(tmp_path, monkeypatch, edit)
    assert any(key in ln and words in ln for ln in lines), lines
    assert all(ln.startswith(str(tmp_path / "profiles" / "ovh-pod.yaml")) for ln in lines)


def test_cli_refuses_health_on_public_cloud_exit_2(tmp_path: Path) -> None:
    path = stack_file(tmp_path, "ovh-gra", **{"hdh:classification": "health-pseudonymised"})
    proc = subprocess.run(
        [sys.executable, "-m", "hdh.cli", "plan", "--stack", "ovh-gra", "--stack-file", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path}: hdh:classification: health data (health-pseudonymised)" in proc.stderr
    assert "resources" not in proc.stdout


@pytest.mark.parametrize(
    ("service", "words"), [("keyManager", "key manager"), ("objectStorage", "object storage")]
)
def test_optional_services_the_platform_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: str, words: str
) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(ROOT / "stacks" / "profiles", profiles)
    doc = yaml.safe_load((profiles / "scs.yaml").read_text())
    doc["services"][service] = False
    doc["kubernetes"]["mode"] = "kubeadm"
    (profiles / "scs.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setattr(profile_mod, "PROFILE_DIR", profiles)
    load_profile.cache_clear()
    try:
        lines = errors("scs-de", ROOT / "stacks" / "Pulumi.scs-de.yaml")
    finally:
        load_profile.cache_clear()
    assert any(f": hdh:profile: profile scs declares no {words}" in ln for ln in lines), lines


def test_magnum_mode_needs_the_service(tmp_path: Path) -> None:
    path = stack_file(
        tmp_path, "ovh-sbg", **{"hdh:kubernetes": {"enabled": True, "mode": "magnum"}}
    )
    lines = errors("ovh-sbg", path)
    assert any(
        ": hdh:kubernetes.mode: magnum: profile ovh declares no Magnum" in ln for ln in lines
    )
