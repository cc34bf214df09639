"""The typed stack model: every malformed stack gives file:key messages, nothing is registered."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import Settings, available_stacks, load_stack, project_defaults
from components.profile import available_profiles, load_profile
from ground.errors import ConfigErrors
from ground.paths import ROOT

Edit = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Edit:
    return lambda c: c.__setitem__(key, value)


def _del(key: str) -> Edit:
    return lambda c: c.pop(key)


def _bubble(i: int, **changes: Any) -> Edit:
    return lambda c: c["hdh:bubbles"][i].update(changes)


def _tier(tier: str, cidr: str) -> Edit:
    return lambda c: c["hdh:tiers"].__setitem__(tier, cidr)


# (case id, edit, expected key, expected words in the message)
CASES: list[tuple[str, Edit, str, str]] = [
    ("unknown-region", _set("openstack:region", "XX9"), "openstack:region", "unknown region 'XX9'"),
    ("region-outside-eu", _set("openstack:region", "UK1"), "openstack:region", "outside the EU"),
    ("region-canada", _set("openstack:region", "BHS5"), "openstack:region", "outside the EU"),
    ("missing-region", _del("openstack:region"), "openstack:region", "required key is missing"),
    ("missing-tiers", _del("hdh:tiers"), "hdh:tiers", "required key is missing"),
    ("missing-key", _del("hdh:sshPublicKey"), "hdh:sshPublicKey", "required key is missing"),
    ("bad-ssh-key", _set("hdh:sshPublicKey", "hunter2"), "hdh:sshPublicKey", "<type> <base64>"),
    ("unknown-profile", _set("hdh:profile", "aws"), "hdh:profile", "no such profile"),
    ("invalid-cidr", _tier("data", "10.20.16.0/33"), "hdh:tiers.data", "IPv4 network"),
    ("host-bits", _tier("data", "10.20.16.1/20"), "hdh:tiers.data", "IPv4 network"),
    ("tier-overlap", _tier("data", "10.20.0.0/16"), "hdh:tiers", "overlaps"),
    ("bubble-overlaps-tier", _bubble(1, cidr="10.20.16.0/24"), "hdh:bubbles[1].cidr", "data tier"),
    (
        "pool-overlaps-tier",
        _set("hdh:bubblePool", {"cidr": "10.20.0.0/16"}),
        "hdh:bubblePool.cidr",
        "overlaps admin tier",
    ),
    ("bubble-name-dup", _bubble(2, name="demo-cardio"), "hdh:bubbles[2].name", "duplicate"),
    ("bubble-name-dns", _bubble(0, name="Demo_Cardio"), "hdh:bubbles[0].name", "pattern"),
    ("bubble-no-pool", lambda c: c.pop("hdh:bubblePool"), "hdh:bubbles[0].cidr", "bubblePool"),
    (
        "pool-too-small",
        _set("hdh:bubblePool", {"cidr": "10.64.0.0/24", "prefixLength": 25}),
        "hdh:bubblePool.cidr",
        "no free /25",
    ),
    (
        "unknown-flavor",
        _set("hdh:flavors", {"workspace": "m1.huge"}),
        "hdh:flavors.workspace",
        "unknown flavor",
    ),
    ("bad-role", _set("hdh:flavors", {"gpu": "b3-8"}), "hdh:flavors.gpu", ""),
    ("unknown-volume-type", _set("hdh:volumeType", "gold"), "hdh:volumeType", "unknown volume"),
    ("unencrypted-type", _set("hdh:volumeType", "classic"), "hdh:volumeType", "not encrypted"),
    ("image-not-allowed", _set("hdh:image", "Ubuntu 24.04"), "hdh:image", "allow-list"),
    ("wrong-type", _set("hdh:servicesCount", "many"), "hdh:servicesCount", "integer"),
    ("out-of-range", _set("hdh:servicesCount", 0), "hdh:servicesCount", "greater than"),
    ("workspaces-type", _bubble(0, workspaces="two"), "hdh:bubbles[0].workspaces", "integer"),
    ("unknown-key", _set("hdh:bubles", []), "hdh:bubles", "unknown key"),
    (
        "plaintext-password",
        _set("openstack:password", "s3cret"),
        "openstack:password",
        "credentials never go in a stack file",
    ),
    ("admin-cidr-bad", _set("hdh:adminCidrs", ["not-a-cidr"]), "hdh:adminCidrs[0]", ""),
]


@pytest.mark.parametrize(("case", "edit", "key", "words"), CASES, ids=[c[0] for c in CASES])
def test_config_error(case: str, edit: Edit, key: str, words: str, edited_stack: Any) -> None:
    path = edited_stack(edit)
    with pytest.raises(ConfigErrors) as info:
        load_stack("ovh-gra", path)
    lines = info.value.lines()
    hits = [line for line in lines if f": {key}" in line and words in line]
    assert hits, f"{case}: expected {key!r} with {words!r}, got {lines}"
    assert all(line.startswith(str(path)) for line in lines), lines


def test_all_errors_reported_at_once(edited_stack: Any) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["openstack:region"] = "SGP1"
        c["hdh:volumeType"] = "classic"
        c["hdh:bubbles"][2]["name"] = "demo-cardio"

    with pytest.raises(ConfigErrors) as info:
        load_stack("ovh-gra", edited_stack(edit))
    keys = {line.split(": ")[1] for line in info.value.lines()}
    assert keys == {"openstack:region", "hdh:volumeType", "hdh:bubbles[2].name"}


def test_secure_credential_is_accepted(edited_stack: Any) -> None:
    path = edited_stack(_set("openstack:password", {"secure": "v1:abcd"}))
    assert load_stack("ovh-gra", path).region == "GRA11"


@pytest.mark.parametrize("stack", available_stacks())
def test_committed_stacks_are_valid(stack: str) -> None:
    cfg = load_stack(stack)
    assert cfg.region in cfg.profile.allowed_regions()
    assert cfg.volume_type in cfg.profile.encrypted_volume_types


@pytest.mark.parametrize("name", available_profiles())
def test_profiles_load(name: str) -> None:
    p = load_profile(name)
    assert p.encrypted_volume_types, "a profile needs at least one encrypted volume type"
    if not p.test_only:
        assert all(not r.test for r in p.regions.values())


def test_scs_encrypted_types_come_from_the_description_convention() -> None:
    scs = load_profile("scs")
    assert set(scs.encrypted_volume_types) == {"LUKS", "ssd-luks"}
    assert "ssd" not in scs.encrypted_volume_types


def test_only_the_test_profile_allows_a_test_region() -> None:
    assert load_profile("local").allowed_regions() == ["RegionOne"]
    for name in ("ovh", "scs"):
        p = load_profile(name)
        assert all(p.regions[r].eu for r in p.allowed_regions())


def test_pulumi_yaml_declares_every_key_with_model_defaults() -> None:
    doc = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    declared = doc["config"]
    fields = {f.alias or n: f for n, f in Settings.model_fields.items()}
    assert set(declared) == set(fields), "Pulumi.yaml config and the Settings model differ"
    for key, spec in declared.items():
        assert spec.get("description"), f"{key}: no description"
        f = fields[key]
        if f.is_required():
            assert "default" not in spec, f"{key} is required by the model"
        elif isinstance(f.default, int | str) and not isinstance(f.default, bool):
            assert spec["default"] == f.default, f"{key}: Pulumi.yaml default differs"
    assert project_defaults()["hdh:servicesCount"] == "2"


def test_cli_exits_2_with_one_line_per_error(edited_stack: Any) -> None:
    path: Path = edited_stack(_set("openstack:region", "UK1"))
    proc = subprocess.run(
        [sys.executable, "-m", "hdh.cli", "plan", "--stack", "ovh-gra", "--stack-file", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{path}: openstack:region: region UK1 (London, GB) is outside the EU" in proc.stderr
    assert "resources" not in proc.stdout, "nothing may be planned after a config error"


def test_cli_unknown_stack_exits_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hdh.cli", "plan", "--stack", "nope"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2
    assert "stacks/Pulumi.nope.yaml: no such stack file" in proc.stderr
    assert "Traceback" not in proc.stderr
