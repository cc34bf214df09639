"""Pure helpers of the area deploys: firewall ruleset, rsyslog forwarding, apt config, areas."""

from __future__ import annotations

import pytest
from pyinfra.api import OperationError

from hardening import data
from hardening.firewall import ruleset
from hardening.logs import rsyslog_config
from hardening.packages import apt_conf
from hardening.roles import AREAS, KERNEL_AREAS, check_areas


def test_firewall_refuses_to_drop_ssh() -> None:
    s = data.settings("firewall", "base")
    assert "tcp dport { 22 } accept" in ruleset(s, 22)
    with pytest.raises(OperationError, match="lack the SSH port 2222"):
        ruleset(s, 2222)


def test_firewall_replaces_only_its_table() -> None:
    text = ruleset(data.settings("firewall", "k8s-node"), 22)
    assert "flush ruleset" not in text
    assert "delete table inet hdh_filter" in text
    assert "tcp dport { 22, 10250 } accept" in text
    assert "hook forward priority filter; policy accept;" in text


def test_rsyslog_forwarding_only_when_configured() -> None:
    s = data.settings("logging", "base")
    assert "omfwd" not in rsyslog_config(s, None, None)
    text = rsyslog_config(s, ("logs.services", 6514), "/etc/ssl/hdh-ca.pem")
    assert 'target="logs.services" port="6514" protocol="tcp"' in text
    assert 'StreamDriver="gtls"' in text and "DefaultNetstreamDriverCAFile" in text


def test_apt_conf_lists_and_scalars() -> None:
    text = apt_conf({"A::B": "1", "A::List": ["x", "y"]}, "")
    assert text == 'A::B "1";\nA::List {\n  "x";\n  "y";\n};\n'


def test_areas_order_and_errors() -> None:
    assert check_areas(["audit", "kernel"]) == ["kernel", "audit"]
    assert set(KERNEL_AREAS) <= set(AREAS)
    assert next(iter(AREAS)) == "packages" and list(AREAS)[-1] == "integrity"
    with pytest.raises(data.ConfigError, match="unknown area"):
        check_areas(["kernal"])


def test_audit_syscall_rules_cover_both_abis() -> None:
    from hardening.audit import both_abis

    b64 = "-a always,exit -F arch=b64 -S chmod -F auid>=1000 -k perm_mod"
    watch = "-w /etc/passwd -p wa -k identity"
    assert both_abis([b64, watch]) == [b64, b64.replace("arch=b64", "arch=b32"), watch]
    own = [
        "-a always,exit -F arch=b64 -S adjtimex -k t",
        "-a always,exit -F arch=b32 -S stime -k t",
    ]
    assert both_abis(own) == own  # a group with its own 32-bit rules is left as written
