"""R33 R73: auditd runs and the loaded rules (auditctl -l) hold every rule group."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hardening import data
from hardening.facts import PRIVILEGED_PROGRAMS_COMMAND


def groups(rnum: str) -> list[str]:
    return sorted(s.key for s in data.baseline("audit", "high").values() if s.control == rnum)


@pytest.fixture(scope="module")
def loaded(host: Any) -> str:
    return str(host.run("auditctl -l").stdout)


@pytest.mark.kernel
def test_r73_auditd_running(host: Any, kernel_host: None) -> None:
    assert host.service("auditd").is_running
    assert host.service("auditd").is_enabled


def check_group(host: Any, loaded: str, expect: Any, group: str) -> None:
    rules = expect("audit", group)
    if group == "immutable":
        status = host.run("auditctl -s").stdout
        assert re.search(r"^enabled 2$", status, re.M), f"rules not immutable: {status}"
        return
    for rule in rules:
        if "{path}" in rule:  # one rule per setuid/setgid program found on this host
            programs = host.run(PRIVILEGED_PROGRAMS_COMMAND).stdout.split()
            assert "/usr/bin/su" in programs, programs  # the search itself works
            missing = [p for p in programs if not re.search(rf"-F path={p} -F perm=x\b", loaded)]
            assert not missing, f"setuid/setgid programs without an audit rule: {missing}"
            continue
        key = re.search(r"-k (\S+)", rule)
        path = re.search(r"-(?:w|F path=)\s?(\S+)", rule)
        assert key and key.group(1) in loaded, f"no loaded rule with key {key}: {rule}"
        if path and rule.startswith("-w"):
            assert path.group(1).rstrip("/") in loaded, f"watch not loaded: {rule}"
        if "arch=b64" in rule:  # and its 32-bit twin: the other syscall table
            twins = [ln for ln in loaded.splitlines() if "arch=b32" in ln and key.group(1) in ln]
            assert twins, f"no 32-bit rule with key {key.group(1)}: {rule}"


@pytest.mark.kernel
@pytest.mark.parametrize("group", groups("R33"))
def test_r33_audit_sudo(host: Any, kernel_host: None, loaded: str, expect: Any, group: str) -> None:
    check_group(host, loaded, expect, group)


@pytest.mark.kernel
@pytest.mark.parametrize("group", groups("R73"))
def test_r73_audit_rules(
    host: Any, kernel_host: None, loaded: str, expect: Any, group: str
) -> None:
    check_group(host, loaded, expect, group)
