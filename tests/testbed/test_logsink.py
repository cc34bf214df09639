"""The testbed's log collector on loopback: its PKI, TLS only, what a trusting client sends."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from testbed import logsink


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, Path]:
    monkeypatch.setenv("HDH_CACHE", str(tmp_path / "cache"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    out = tmp_path / "received.syslog"
    args = (f"127.0.0.1:{port}", out)
    threading.Thread(target=logsink.serve, args=args, daemon=True).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return port, out
        time.sleep(0.05)
    raise AssertionError("the collector did not listen")


def test_pki_is_what_rsyslog_checks(sink: tuple[int, Path]) -> None:
    d = logsink.pki_dir()
    ca = x509.load_pem_x509_certificate(logsink.ca_path().read_bytes())
    cert = x509.load_pem_x509_certificate((d / "server.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [logsink.NAME]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert (d / "server.key").stat().st_mode & 0o777 == 0o600
    assert logsink.ensure_pki() == d and ca == x509.load_pem_x509_certificate(
        logsink.ca_path().read_bytes()
    )  # made once: a second call keeps the CA the hosts trust


def test_tls_only_and_messages_land(sink: tuple[int, Path]) -> None:
    port, out = sink
    with socket.create_connection(("127.0.0.1", port)) as plain:  # no TLS: dropped
        plain.sendall(b"<13>plain-text message\n")
        plain.settimeout(5)
        try:
            got = plain.recv(1)
        except ConnectionResetError:  # closed with our bytes unread
            got = b""
        assert got == b""
    ctx = ssl.create_default_context(cafile=str(logsink.ca_path()))
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        ctx.wrap_socket(raw, server_hostname=logsink.NAME) as tls,
    ):
        tls.sendall(b"<13>Nov 23 12:00:00 h1 hdh-check: over-tls\n<13>partial")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "over-tls" not in out.read_text():
        time.sleep(0.05)
    text = out.read_text()
    assert text == "<13>Nov 23 12:00:00 h1 hdh-check: over-tls\n", text  # whole lines only
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        ctx.wrap_socket(raw, server_hostname="other.test")  # the name is checked too
