"""R71 R72: persistent journal, rsyslog running with modes and optional forwarding, chrony."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hardening import certificates, logs, timesync


def test_r71_journald_persistent(host: Any, expect: Any) -> None:
    storage = expect("logging", "journald.Storage")
    conf = host.run("systemd-analyze cat-config systemd/journald.conf").stdout
    assert f"Storage={storage}" in conf
    assert host.file("/var/log/journal").is_directory


def test_r71_rsyslog_running(host: Any) -> None:
    assert host.service("rsyslog").is_running and host.service("rsyslog").is_enabled


def test_r72_rsyslog_file_mode(host: Any, expect: Any) -> None:
    mode = expect("logging", "rsyslog.FileCreateMode")
    conf = host.file(logs.RSYSLOG_DROP_IN).content_string
    assert f"$FileCreateMode {mode}" in conf


def test_r71_log_forwarding(host: Any, expect: Any, request: pytest.FixtureRequest) -> None:
    remote = request.config.getoption("hdh_log_remote")
    if not remote:
        pytest.skip("no remote log host configured for this deployment (host data log_remote)")
    target, _, port = remote.rpartition(":")
    conf = host.file(logs.RSYSLOG_DROP_IN).content_string
    assert f'action(type="omfwd" target="{target}" port="{port}"' in conf
    if expect("logging", "rsyslog.tls") == "required" or 'StreamDriver="gtls"' in conf:
        # Over TLS, the log host authenticated by its certificate and name.
        assert 'StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"' in conf
        assert 'StreamDriver.CheckExtendedKeyPurpose="on"' in conf
        assert host.package("rsyslog-gnutls").is_installed
        if f'StreamDriver.CertFile="{certificates.CERT}"' in conf:
            # Mutual TLS with the services tier's collector: the host's own certificate of the
            # platform CA, for clientAuth, its key private to root.
            assert f'StreamDriver.CAFile="{certificates.CA_FILE}"' in conf
            assert f'StreamDriver.KeyFile="{certificates.KEY}"' in conf
            key = host.file(certificates.KEY)
            assert (key.user, key.mode) == ("root", 0o600)
            verify = host.run(
                f"openssl verify -purpose sslclient -CAfile {certificates.CA_FILE} "
                f"{certificates.CERT}"
            )
            assert verify.rc == 0, verify.stdout + verify.stderr
            return
        ca = host.file("/etc/ssl/hdh-log-ca.pem")
        assert ca.exists and "BEGIN CERTIFICATE" in ca.content_string
        assert 'global(DefaultNetstreamDriverCAFile="/etc/ssl/hdh-log-ca.pem")' in conf


def test_r71_logrotate(host: Any, expect: Any) -> None:
    frequency, keep = (
        expect("logging", "logrotate.frequency"),
        expect("logging", "logrotate.rotate"),
    )
    conf = host.file("/etc/logrotate.conf").content_string
    periods = re.findall(r"^\s*(daily|weekly|monthly|yearly)\s*$", conf, re.M)
    assert periods == [frequency], periods
    assert re.findall(r"^\s*rotate\s+(\d+)\s*$", conf, re.M) == [str(keep)]
    assert host.run("logrotate --debug /etc/logrotate.conf").rc == 0


def test_r71_chrony_sources(host: Any, expect: Any) -> None:
    expect("time", "chrony.servers")
    sources = host.file(timesync.SOURCES).content_string
    assert sources.startswith("server "), sources
    assert "cmdport 0" in host.file(timesync.CONF).content_string


def test_r71_chrony_running(host: Any, kind: str) -> None:
    if kind == "container":
        pytest.skip("container: chronyd needs CAP_SYS_TIME; the clock is the host's")
    assert host.service("chrony").is_running and host.service("chrony").is_enabled
