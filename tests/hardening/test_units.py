"""Pure helpers of the area deploys: firewall ruleset, rsyslog forwarding, apt config, areas."""

from __future__ import annotations

import re

import pytest
from pyinfra.api import OperationError

from hardening import data
from hardening.firewall import ruleset
from hardening.logs import CA_FILE, Remote, rsyslog_config
from hardening.packages import apt_conf
from hardening.roles import AREAS, KERNEL_AREAS, check_areas


def test_firewall_refuses_to_drop_ssh() -> None:
    s = data.settings("firewall", "base")
    assert "tcp dport { 22 } accept" in ruleset(s, 22)
    with pytest.raises(OperationError, match="lack the SSH port 2222"):
        ruleset(s, 2222)


SOURCES = {
    "control-plane": ["10.30.32.10", "10.30.32.11"],
    "nodes": ["10.30.32.10", "10.30.32.11", "10.30.32.20"],
    "api-clients": ["10.30.0.0/24", "10.30.32.0/19", "10.68.0.0/14"],
}


def test_firewall_replaces_only_its_table() -> None:
    text = ruleset(data.settings("firewall", "k8s-worker"), 22, SOURCES)
    assert "flush ruleset" not in text
    assert "delete table inet hdh_filter" in text
    assert "tcp dport { 22 } accept" in text
    assert "hook forward priority filter; policy accept;" in text
    assert "ip daddr { 169.254.169.254 } drop" in text  # pods never reach the metadata service


def test_kubernetes_ports_only_from_their_sources() -> None:
    control = ruleset(data.settings("firewall", "k8s-control"), 22, SOURCES)
    cps = "{ 10.30.32.10, 10.30.32.11 }"
    nodes = "{ 10.30.32.10, 10.30.32.11, 10.30.32.20 }"
    assert f"ip saddr {cps} tcp dport {{ 2379, 2380 }} accept" in control
    assert f"ip saddr {cps} tcp dport {{ 10250 }} accept" in control
    assert f"ip saddr {nodes} meta l4proto 4 accept" in control
    clients = "{ 10.30.0.0/24, 10.30.32.0/19, 10.68.0.0/14 }"
    assert f"ip saddr {clients} tcp dport {{ 6443 }} accept" in control
    worker = ruleset(data.settings("firewall", "k8s-worker"), 22, SOURCES)
    assert "2379" not in worker and "6443" not in worker
    assert f"ip saddr {cps} tcp dport {{ 10250 }} accept" in worker


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ({**SOURCES, "control-plane": []}, "no address for source 'control-plane'"),
        ({**SOURCES, "nodes": ["10.0.0.1 } accept; tcp dport 1-65535"]}, "not an IPv4 address"),
        ({**SOURCES, "api-clients": ["0.0.0.0/0", "example.org"]}, "not an IPv4 address"),
    ],
)
def test_firewall_sources_must_be_addresses(sources: dict, message: str) -> None:
    with pytest.raises(OperationError, match=message):
        ruleset(data.settings("firewall", "k8s-control"), 22, sources)


def test_rsyslog_forwarding_only_when_configured() -> None:
    s = data.settings("logging", "base")
    assert "omfwd" not in rsyslog_config(s, None)
    plain = rsyslog_config(s, Remote("logs.services", 514, None, "logs.services"))
    assert 'target="logs.services" port="514" protocol="tcp"' in plain
    assert "gtls" not in plain and "DefaultNetstreamDriverCAFile" not in plain


# SSG 0.1.76's OVAL for rsyslog_remote_tls and rsyslog_remote_tls_cacert (Debian 12 data stream),
# with its `(?i)x(?-i)` spans written as Python's `(?i:x)`.
SSG_TLS_ACTION = re.compile(r'^\s*action\((?i:type)="omfwd"(.+?)\)', re.M | re.S)
SSG_TLS_OPTIONS = [
    r'\s(?i:protocol)="tcp"',
    r'\s(?i:Target)="[^"]+?"',
    r'\s(?i:port)="6514"',
    r'\s(?i:StreamDriver)="gtls"',
    r'\s(?i:StreamDriverMode)="1"',
    r'\s(?i:StreamDriverAuthMode)="x509/name"',
    r'\s(?i:StreamDriver\.CheckExtendedKeyPurpose)="on"',
]
SSG_CA_FILE = re.compile(r'^\s*global\(DefaultNetstreamDriverCAFile="(.+?)"\)\s*\n', re.M)


def test_rsyslog_tls_forwarding_is_what_the_judge_reads() -> None:
    s = data.settings("logging", "bastion")
    pem = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"
    text = rsyslog_config(s, Remote("10.0.0.5", 6514, pem, "logs.hdh.test"))
    (action,) = SSG_TLS_ACTION.findall(text)
    assert all(re.search(o, action) for o in SSG_TLS_OPTIONS), action
    assert 'StreamDriverPermittedPeers="logs.hdh.test"' in action
    assert SSG_CA_FILE.findall(text) == [CA_FILE]
    assert s["rsyslog.tls"].value == "required"  # enhanced: never in clear
    assert data.settings("logging", "base")["rsyslog.tls"].value == "optional"


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
