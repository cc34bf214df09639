"""R45 R62 R74 R75: unneeded services masked, local-only mail, root alias, AppArmor."""

from __future__ import annotations

from typing import Any

import pytest

from hardening import data


@pytest.mark.parametrize("unit", data.baseline("services", "high")["disabled"].value)
def test_r62_unneeded_services_off(host: Any, unit: str) -> None:
    out = host.run(f"systemctl show -p LoadState,UnitFileState,ActiveState {unit}").stdout
    state = dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)
    if state.get("LoadState") == "not-found":
        return  # not installed: nothing can run
    assert state.get("UnitFileState") == "masked" and state.get("ActiveState") != "active", state


def test_r74_mail_local_only(host: Any) -> None:
    out = host.run("ss -Htln sport = :25").stdout
    exposed = [ln for ln in out.splitlines() if not ln.split()[3].startswith(("127.", "[::1]"))]
    assert not exposed, f"SMTP listening beyond loopback: {exposed}"


def test_r75_root_mail_alias(host: Any, expect: Any) -> None:
    alias = expect("services", "aliases.root")
    assert f"root: {alias}" in host.file("/etc/aliases").content_string.splitlines()


@pytest.mark.kernel
def test_r45_apparmor_enabled(host: Any, kernel_host: None, expect: Any) -> None:
    expect("services", "apparmor.enabled")
    assert host.file("/sys/module/apparmor/parameters/enabled").content_string.strip() == "Y"
    assert host.service("apparmor").is_enabled
