"""Logging: persistent journald, rsyslog forwarding to a log host over TLS (BP-028 R71 R72)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyinfra import host
from pyinfra.api import OperationError, deploy
from pyinfra.operations import files

from hardening import certificates, ops
from hardening.common import DROP_IN_PREFIX, level, settings

JOURNALD_DROP_IN = f"/etc/systemd/journald.conf.d/60-{DROP_IN_PREFIX}.conf"
RSYSLOG_DROP_IN = f"/etc/rsyslog.d/00-{DROP_IN_PREFIX}.conf"


CA_FILE = "/etc/ssl/hdh-log-ca.pem"
LOGROTATE_CONF = "/etc/logrotate.conf"


@dataclass(frozen=True)
class Remote:
    """Where logs are forwarded: host data `log_remote` ("host:port"), `log_remote_ca` (the
    log host's CA certificate, a PEM file on the machine running the deploy) and
    `log_remote_name` (the name in the log host's certificate; default: its host)."""

    target: str
    port: int
    ca_pem: str | None
    peer: str
    # Mutual TLS with the platform's collector (host data `log_remote_pki`): the host shows its
    # own certificate of the platform CA (hardening/certificates.py), the CA is the platform's.
    client_cert: bool = False


def parse_remote(value: str) -> tuple[str, int]:
    """ "host:port" -> (host, port); ValueError naming the expected form."""
    target, _, port = value.rpartition(":")
    if not target or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return target, int(port)


def read_ca(path: str | Path) -> str:
    """The log host's CA certificate (PEM text); ValueError when unreadable or not PEM."""
    try:
        pem = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError(f"{path}: not a PEM certificate")
    return pem


def remote_target() -> Remote | None:
    """The host's log forwarding from its host data, None when no log host is configured."""
    value = host.data.get("log_remote")
    if not value:
        return None
    try:
        target, port = parse_remote(str(value))
    except ValueError as exc:
        raise OperationError(f"host data log_remote: {exc}") from None
    ca, ca_pem = host.data.get("log_remote_ca"), None
    if host.data.get("log_remote_pki"):
        peer = str(host.data.get("log_remote_name") or target)
        return Remote(target, port, str(host.data.get("platform_ca_pem")), peer, client_cert=True)
    if ca:
        try:
            ca_pem = read_ca(str(ca))
        except ValueError as exc:
            raise OperationError(f"host data log_remote_ca: {exc}") from None
    return Remote(target, port, ca_pem, str(host.data.get("log_remote_name") or target))


def rsyslog_config(s: dict, remote: Remote | None) -> str:
    lines = [
        "# Managed by hdh hardening (ANSSI BP-028 R71): do not edit.",
        f"$FileCreateMode {s['rsyslog.FileCreateMode'].value}",
    ]
    if remote:
        tls = ""
        if remote.client_cert:
            # Per action, not global(): on a services host the collector has its own files.
            tls = (
                ' StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"'
                f' StreamDriverPermittedPeers="{remote.peer}"'
                ' StreamDriver.CheckExtendedKeyPurpose="on"'
                f' StreamDriver.CAFile="{certificates.CA_FILE}"'
                f' StreamDriver.CertFile="{certificates.CERT}"'
                f' StreamDriver.KeyFile="{certificates.KEY}"'
            )
        elif remote.ca_pem:
            # Server authentication by certificate and name, with the serverAuth purpose checked.
            lines.append(f'global(DefaultNetstreamDriverCAFile="{CA_FILE}")')
            tls = (
                ' StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"'
                f' StreamDriverPermittedPeers="{remote.peer}"'
                ' StreamDriver.CheckExtendedKeyPurpose="on"'
            )
        # One forwarding action for every message (no selector: RainerScript's form).
        lines.append(
            f'action(type="omfwd" target="{remote.target}" port="{remote.port}" '
            f'protocol="{s["rsyslog.protocol"].value}"{tls} '
            f'queue.type="{s["rsyslog.queue"].value}" queue.filename="hdh_forward" '
            'queue.saveOnShutdown="on" action.resumeRetryCount="-1")'
        )
    return "\n".join(lines) + "\n"


@deploy("Logging (R71 R72)")
def logging_system() -> None:
    s = settings("logging")
    journald = {k.split(".", 1)[1]: v.value for k, v in s.items() if k.startswith("journald.")}
    ops.validated_file(
        name="R71 journald persistent storage",
        path=JOURNALD_DROP_IN,
        content="[Journal]\n" + "".join(f"{k}={v}\n" for k, v in journald.items()),
        activate="systemctl restart systemd-journald.service",
    )
    remote = remote_target()
    if remote and not remote.ca_pem and s["rsyslog.tls"].value == "required":
        raise OperationError(
            f"host data log_remote_ca missing: at the {level()} level logs leave the host over "
            f"TLS only (R71); give the CA certificate of {remote.target}"
        )
    if remote is None:
        what = "no remote forwarding (host data log_remote unset)"
    else:
        how = "mutual TLS" if remote.client_cert else "TLS" if remote.ca_pem else "plain TCP"
        what = f"forwarding to {remote.target}:{remote.port} over {how}"
    if remote and remote.ca_pem and not remote.client_cert:
        ops.validated_file(
            name=f"R71 CA certificate of the log host {remote.peer}",
            path=CA_FILE,
            content=remote.ca_pem,
        )
    ops.validated_file(
        name=f"R71 rsyslog file modes and {what}",
        path=RSYSLOG_DROP_IN,
        content=rsyslog_config(s, remote),
        check_after="rsyslogd -N1 >/dev/null",
        activate="systemctl restart rsyslog.service",
    )
    ops.unit_running(name="R71 rsyslog enabled and running", unit="rsyslog.service")
    if "logrotate.frequency" in s:
        # Rotation period and count in the main file (the per-log files keep their own).
        frequency, keep = s["logrotate.frequency"].value, s["logrotate.rotate"].value
        files.line(
            name=f"R71 logrotate {frequency}",
            path=LOGROTATE_CONF,
            line=r"^[[:space:]]*(daily|weekly|monthly|yearly)[[:space:]]*$",
            replace=str(frequency),
            extended_regex=True,
        )
        files.line(
            name=f"R71 logrotate keeps {keep} rotations",
            path=LOGROTATE_CONF,
            line=r"^[[:space:]]*rotate[[:space:]]+[0-9]+[[:space:]]*$",
            replace=f"rotate {keep}",
            extended_regex=True,
        )
