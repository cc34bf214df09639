"""R58 R59 R61: no unneeded packages, signed repositories only, unattended security updates."""

from __future__ import annotations

from typing import Any


def test_r58_unneeded_packages_absent(host: Any, expect: Any) -> None:
    installed = [p for p in expect("packages", "absent") if host.package(p).is_installed]
    assert not installed, f"unneeded packages installed: {installed}"


def test_r59_no_unauthenticated_repositories(host: Any) -> None:
    dump = host.run("apt-config dump").stdout
    assert 'APT::Get::AllowUnauthenticated "false";' in dump
    assert 'Acquire::AllowInsecureRepositories "false";' in dump
    sources = host.run("cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null").stdout
    assert "trusted=yes" not in sources and "Trusted: yes" not in sources


def test_r61_unattended_security_updates(host: Any) -> None:
    assert host.package("unattended-upgrades").is_installed
    dump = host.run("apt-config dump").stdout
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    assert "label=Debian-Security" in dump
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert host.service(timer).is_enabled, f"{timer} disabled"
