"""Hardening data: schema-checked, every deviation justified and effective, coverage complete."""

from __future__ import annotations

import re

import pytest

from ground.errors import ConfigErrors
from hardening import coverage, data


def test_data_files_pass_the_schema() -> None:
    data.validate()


def test_catalogue_has_every_bp028_control() -> None:
    assert sorted(data.controls(), key=data.rnum_key) == [f"R{i}" for i in range(1, 81)]


@pytest.mark.parametrize("area", data.AREAS)
def test_every_setting_names_a_catalogued_control(area: str) -> None:
    catalogue = data.controls()
    for rnum in data.load(area):
        assert rnum in catalogue and "out" not in catalogue[rnum], f"{area}: {rnum}"


def test_schema_rejects_bad_data(monkeypatch: pytest.MonkeyPatch) -> None:
    real = data.load

    def fake(name: str) -> dict:
        if name == "kernel":
            return {"R99": {"intermediary": {"x": 1}}, "R9": {"extreme": {"y": 1}}}
        if name == "roles":
            doc = dict(real("roles"))
            doc["roles"] = {
                "odd": {
                    "level": "max",
                    "description": "",
                    "deviations": [
                        {
                            "control": "R9",
                            "area": "kernel",
                            "key": "k",
                            "value": 1,
                            "why": "because",
                        }
                    ],
                }
            }
            return doc
        return real(name)

    monkeypatch.setattr(data, "load", fake)
    with pytest.raises(ConfigErrors) as err:
        data.validate()
    text = "\n".join(err.value.lines())
    assert "kernel.yaml: R99: top-level keys must be R-numbers" in text
    assert "kernel.yaml: R9.extreme: unknown level" in text
    assert "roles.yaml: roles.odd.level: must be one of" in text
    assert "roles.yaml: roles.odd.deviations[0].why: a deviation needs a real justification" in text


def test_levels_inherit_and_override() -> None:
    inter = data.settings("accounts", "base", "intermediary")
    enh = data.settings("accounts", "base", "enhanced")
    assert inter["login.defs.UMASK"].value == "027"
    assert enh["login.defs.UMASK"].value == "077"
    assert "pwquality.minlen" in inter  # minimal settings are part of intermediary
    assert "kernel.modules_disabled" not in data.baseline("kernel", "intermediary")


def test_role_deviations_change_only_their_key() -> None:
    base = data.settings("kernel", "base", "intermediary")
    k8s = data.settings("kernel", "k8s-node", "intermediary")
    assert base["net.ipv4.ip_forward"].value == 0
    assert k8s["net.ipv4.ip_forward"].value == 1
    assert {k for k in base if base[k] != k8s.get(k)} == {"net.ipv4.ip_forward"}


@pytest.mark.parametrize("name", sorted(data.roles()))
def test_every_deviation_takes_effect(name: str) -> None:
    role = data.role(name)
    for dev in role.deviations:
        got = data.settings(dev.area, name)
        if dev.value is None:
            assert dev.key not in got, f"{name}: waived {dev.key} still applied"
            assert dev.key in data.waivers(dev.area, name)
        else:
            assert got[dev.key].value == dev.value and got[dev.key].control == dev.control


def test_platform_roles_exist() -> None:
    assert {"bastion", "k8s-node", "data-host", "workspace"} <= set(data.roles())


def test_unknown_role_is_a_config_error() -> None:
    with pytest.raises(data.ConfigError, match="unknown role"):
        data.role("mainframe")


def test_coverage_is_up_to_date() -> None:
    assert coverage.render() == coverage.TARGET.read_text(), "run: hdh docs"


def test_coverage_lists_every_data_control_and_misses_none() -> None:
    text = coverage.TARGET.read_text()
    for area in data.AREAS:
        for rnum in data.load(area):
            assert re.search(rf"^\| {rnum} \|", text, re.M), f"{rnum} ({area}) not in COVERAGE.md"
    statuses = {r.rnum: r.status for r in coverage.rows()}
    assert "MISSING" not in statuses.values(), [r for r, s in statuses.items() if s == "MISSING"]
    assert "implemented, not checked" not in statuses.values()


def test_every_check_is_named_after_a_control() -> None:
    names = [c for r in coverage.rows() for c, _ in r.checks]
    assert len(names) > 40
    for path in coverage.CHECKS.glob("test_*.py"):
        for fn in re.findall(r"^def (test_\w+)\(", path.read_text(), re.M):
            assert re.match(r"test_r\d+_", fn), f"{path.name}::{fn} is not keyed by R-number"
