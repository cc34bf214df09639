"""R38 R39 R40 R41 R42 R43 R44: sudo policy, read from the sudoers files themselves."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hardening import sudo

EDITORS = {"vi", "vim", "nano", "emacs", "ed", "less", "more", "view", "sensible-editor", "pico"}


@pytest.fixture(scope="module")
def rules(host: Any) -> list[tuple[str, str, str]]:
    """(user, runas, commands) of every user specification in sudoers and sudoers.d."""
    text = host.run("cat /etc/sudoers /etc/sudoers.d/* 2>/dev/null").stdout
    out = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#include") else ""
        if not line or line.startswith(("Defaults", "@include", "#")) or "_Alias" in line:
            continue
        m = re.match(r"^(\S+)\s+\S+\s*=\s*(?:\(([^)]*)\))?\s*(.*)$", line)
        if m:
            out.append((m.group(1), m.group(2) or "root", m.group(3)))
    return out


def deploy_users() -> set[str]:
    return {"deploy", "root", "%sudo", "%admin"}


def test_r39_sudo_defaults(host: Any, expect: Any) -> None:
    defaults = expect("sudo", "Defaults")
    assert host.run("visudo -c").rc == 0
    text = host.file(sudo.DROP_IN).content_string
    for d in defaults:
        assert f"Defaults {d}" in text, f"missing Defaults {d}"


def test_r39_deploy_exemptions_only(host: Any, expect: Any) -> None:
    exemptions = expect("sudo", "deploy_exemptions")
    text = host.file(sudo.DROP_IN).content_string
    scoped = [ln for ln in text.splitlines() if ln.startswith("Defaults:")]
    assert scoped == [f"Defaults:deploy {', '.join(exemptions)}"], scoped


def test_r38_sudo_group_only(host: Any, expect: Any) -> None:
    group = expect("sudo", "group")
    binary = host.file("/usr/bin/sudo")
    assert (binary.user, binary.group, binary.mode) == ("root", group, 0o4750)
    assert host.run("dpkg-statoverride --list /usr/bin/sudo").rc == 0, "not pinned against upgrades"


def test_r40_no_root_target_beyond_admins(rules: list[tuple[str, str, str]]) -> None:
    bad = [r for r in rules if r[0] not in deploy_users() and r[1].split(":")[0] in ("ALL", "root")]
    assert not bad, f"rules running as root for non-admin users: {bad}"


def test_r41_no_exec_tag(rules: list[tuple[str, str, str]], level: str) -> None:
    if level not in ("enhanced", "high"):
        pytest.skip(f"R41 is enhanced; this host is {level}")
    bad = [r for r in rules if "EXEC:" in r[2] and "NOEXEC:" not in r[2]]
    assert not bad, f"EXEC-tagged rules: {bad}"


def test_r42_no_negation(rules: list[tuple[str, str, str]]) -> None:
    bad = [r for r in rules if re.search(r"(^|,)\s*!", r[2])]
    assert not bad, f"negated commands: {bad}"


def test_r43_explicit_arguments(rules: list[tuple[str, str, str]]) -> None:
    bad = []
    for user, _, cmds in rules:
        if user in deploy_users():
            continue  # documented: the admin group and the deploy user run anything (R33)
        for cmd in cmds.split(","):
            words = re.sub(r"^\s*(\w+:\s*)*", "", cmd).split()
            if words and (words[0] == "ALL" or len(words) == 1):
                bad.append((user, cmd.strip()))
    assert not bad, f"commands without explicit arguments: {bad}"


def test_r44_no_editor_through_sudo(rules: list[tuple[str, str, str]]) -> None:
    bad = []
    for user, _, cmds in rules:
        for cmd in cmds.split(","):
            words = re.sub(r"^\s*(\w+:\s*)*", "", cmd).split()
            if words and words[0].rsplit("/", 1)[-1] in EDITORS:
                bad.append((user, cmd.strip()))
    assert not bad, f"editors run through sudo (use sudoedit): {bad}"


def r57_paths() -> list[str]:
    from hardening import data

    return sorted(s.key for s in data.baseline("sudo", "high").values() if s.control == "R57")


@pytest.mark.parametrize("path", r57_paths())
def test_r57_no_setuid_on_admin_tools(host: Any, expect: Any, path: str) -> None:
    owner, group, mode = str(expect("sudo", path)).split(":")
    f = host.file(path)
    if not f.exists:
        pytest.skip(f"{path} is not installed")
    assert (f.user, f.group, f.mode) == (owner, group, int(mode, 8)), (f.user, f.group, f.mode)
    assert not f.mode & 0o6000, f"{path} still setuid/setgid"
    # Pinned for dpkg: a package upgrade puts the same mode back, not the packaged bits.
    pinned = host.run(f"dpkg-statoverride --list {path}").stdout.split()
    assert pinned[:3] == [owner, group, mode.lstrip("0")], pinned
