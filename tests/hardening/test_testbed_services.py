"""The services tier on a fleet of containers wired like a deployment (testbed/fleet.py).

Bastion, services host, data host and a bubble workspace on their tier networks; the outside is
a namespace serving the testbed's Debian repository (on the proxy's allow-list) and another web
server (not on it). `hdh harden --inventory outputs.json` (the stack-outputs shape, no extra flag)
wires everything; the tests then prove each flow: packages through the proxy and nothing else
out, logs over mutual TLS (and a client without a certificate refused), time from the services
host, metrics from every host only to the services tier, alerts, and a re-run that changes
nothing. Timings go to build/services/timings.json.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import testbed
from ground.paths import ROOT
from testbed import TestHost, fleet
from testbed.paths import named

pytestmark = pytest.mark.testbed

OUT = ROOT / "build" / "services"
TIMINGS: dict[str, float] = {}
PASSPHRASE = "testbed-fleet-ca-passphrase"  # a throwaway CA, made for this run only
SVC = fleet.FLEET[1].address
PORTS = fleet.PORTS


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _time(label: str, seconds: float) -> None:
    TIMINGS[label] = round(seconds, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "timings.json").write_text(json.dumps(TIMINGS, indent=1) + "\n")


class Fleet:
    def __init__(self, hosts: dict[str, TestHost], workdir: Path) -> None:
        self.hosts, self.workdir = hosts, workdir
        self.outputs = workdir / "outputs.json"
        self.outputs.write_text(json.dumps(fleet.inventory(hosts), indent=1))
        self.env = {**os.environ, "HDH_PKI_PASSPHRASE": PASSPHRASE}
        self.runs = 0

    def harden(self, *extra: str) -> tuple[int, list[dict[str, Any]], str]:
        """`hdh harden` as an operator runs it, from the stack outputs."""
        report = self.workdir / "results.json"
        report.unlink(missing_ok=True)
        bastion = self.hosts["bastion"]
        argv = [
            str(Path(sys.executable).with_name("hdh")), "harden", "--inventory",
            str(self.outputs), "--ssh-key", str(bastion.key_path), "--known-hosts", "/dev/null",
            "--host-key-check", "no", "--pki-dir", str(self.workdir / "pki"),
            "--json", str(report), *extra,
        ]  # fmt: skip
        proc = subprocess.run(
            argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=1800
        )
        results = json.loads(report.read_text()) if report.exists() else []
        self.runs += 1
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"run-{self.runs}.json").write_text(json.dumps(results, indent=1) + "\n")
        (OUT / f"run-{self.runs}.log").write_text(proc.stdout + proc.stderr)
        # Errors first: one line per failed host naming the step, then the end of the output.
        errors = "\n".join(r["error"] for r in results if r.get("error"))
        return proc.returncode, results, errors + "\n" + (proc.stdout + proc.stderr)[-3000:]

    def sh(self, label: str, command: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        h = self.hosts[label]
        wrapped = f"sudo -n sh -c {json.dumps(command)}"
        proc = subprocess.run(
            h.ssh_argv(wrapped), capture_output=True, text=True, timeout=300, check=False
        )
        if ok:
            assert proc.returncode == 0, f"{h.name}: {command}: {proc.stderr or proc.stdout}"
        return proc

    def python(self, label: str, script: str, *args: str) -> str:
        """Run a Python snippet on a host (its own python3), return stdout."""
        blob = base64.b64encode(script.encode()).decode()
        quoted = " ".join(json.dumps(a) for a in args)
        return self.sh(label, f"echo {blob} | base64 -d | python3 - {quoted}").stdout.strip()


# Prints the HTTP status, or "ERR <why>" when no HTTP answer came: what a client on the host gets.
HTTP = """
import sys, urllib.request, urllib.error
url, proxy = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
handler = urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else {})
try:
    print(urllib.request.build_opener(handler).open(url, timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print("ERR", getattr(e, "reason", e))
"""
# GET a JSON API on the host's loopback (Prometheus, Alertmanager): print the body.
API = """
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())
"""


@pytest.fixture(scope="module")
def services_fleet(
    testbed_session: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    with named(f"{testbed.prefix()}f"):
        try:
            start = time.monotonic()
            hosts = fleet.up()
            _time("fleet up (4 containers, networks, repository)", time.monotonic() - start)
            f = Fleet(hosts, tmp_path_factory.mktemp("fleet"))
            start = time.monotonic()
            rc, results, out = f.harden()
            _time("hdh harden: first run (4 hosts, three waves)", time.monotonic() - start)
            assert rc == 0, out
            assert all(r["changed"] for r in results), "a fresh host must need changes"
            yield f
        finally:
            fleet.down()


def test_the_fleet_router_sends_no_redirects(services_fleet: Fleet) -> None:
    # Every tier shares one bridge: a redirect would send a host to ARP across subnets, which a
    # hardened host does not answer (arp_ignore=2): the bastion once lost the package cache so.
    for dev in ("all", "default", fleet.BRIDGE):
        got = subprocess.run(
            ["ip", "netns", "exec", fleet.lan_ns(), "cat",
             f"/proc/sys/net/ipv4/conf/{dev}/send_redirects"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert got == "0", dev
    for label in services_fleet.hosts:
        routes = services_fleet.sh(label, "ip route show cache").stdout
        assert "redirected" not in routes, (label, routes)


def test_a_second_run_changes_nothing(services_fleet: Fleet) -> None:
    start = time.monotonic()
    rc, results, out = services_fleet.harden()
    _time("hdh harden: re-run (4 hosts)", time.monotonic() - start)
    assert rc == 0, out
    assert {r["host"]: r["changed"] for r in results} == {r["host"]: [] for r in results}, out


def test_packages_come_through_the_proxy_and_nothing_else_goes_out(services_fleet: Fleet) -> None:
    f = services_fleet
    # The hardening installed the node exporter on the data host through the package cache...
    f.sh("data0", "dpkg -s prometheus-node-exporter >/dev/null")
    cache_log = f.sh("svc0", "cat /var/log/apt-cacher-ng/apt-cacher.log").stdout
    assert "prometheus-node-exporter" in cache_log and fleet.FLEET[2].address in cache_log
    # ... and an operator installs another package the same way (apt as configured).
    f.sh("ws0", "DEBIAN_FRONTEND=noninteractive apt-get install -y -q squid-langpack")
    assert "squid-langpack" in f.sh("svc0", "cat /var/log/apt-cacher-ng/apt-cacher.log").stdout
    # The cache itself went out through the proxy, to the allow-listed repository only.
    access = f.sh("svc0", "cat /var/log/squid/access.log").stdout
    assert f"http://{fleet.REPO_ADDR}/debian/pool/" in access
    proxy = f"http://{SVC}:{PORTS['proxyPort']}"
    repo, other = f"http://{fleet.REPO_ADDR}/debian/Release", f"http://{fleet.OTHER_ADDR}/"
    for label in ("data0", "ws0"):
        # No way out but the proxy: the core router has no route to the outside.
        assert f.python(label, HTTP, repo).startswith("ERR"), label
        assert f.python(label, HTTP, other).startswith("ERR"), label
        # Through the proxy: the allow-listed repository yes, anything else refused.
        assert f.python(label, HTTP, repo, proxy) == "200", label
        assert f.python(label, HTTP, other, proxy) == "403", label
        tunnel = f.python(label, HTTP, f"https://{fleet.OTHER_ADDR}/", proxy)
        assert tunnel.startswith("ERR") and "403" in tunnel, (label, tunnel)
    access = f.sh("svc0", "cat /var/log/squid/access.log").stdout
    denied = [ln for ln in access.splitlines() if "TCP_DENIED/403" in ln]
    assert any(fleet.OTHER_ADDR in ln and fleet.FLEET[3].address in ln for ln in denied), access
    # The proxy takes only the internal networks: the outside cannot use it.
    assert "hdh_clients src" in f.sh("svc0", "cat /etc/squid/squid.conf").stdout


def test_logs_reach_the_collector_over_mutual_tls(services_fleet: Fleet) -> None:
    f = services_fleet
    stored = "/var/log/hdh/hosts"
    for label in ("bastion", "data0", "ws0"):
        name = f.hosts[label].name
        message = f"hdh-probe-{os.urandom(6).hex()}"
        f.sh(label, f"logger -t hdh-check {message}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = f.sh("svc0", f"cat {stored}/{name}/messages.log", ok=False).stdout
            if message in got:
                break
            time.sleep(1)
        else:
            raise AssertionError(f"{name}: {message} not at the collector")
    # Without a certificate: the collector refuses the TLS session and stores nothing. (The
    # messages go base64-encoded on the command lines: sudo logs those, and they are forwarded.)
    probe = f"hdh-nocert-{os.urandom(6).hex()}"
    target = f"{SVC}:{PORTS['logPort']}"
    nocert = f.sh(
        "ws0",
        f"echo {_b64(f'<14>1 - ws0 raw - - - {probe}')} | base64 -d | timeout 10 openssl "
        f"s_client -quiet -CAfile /etc/ssl/hdh-platform-ca.pem -connect {target} 2>&1; true",
    ).stdout
    refused = f.sh("svc0", "journalctl -u rsyslog -q -n 200 --no-pager").stdout
    assert "certificate" in refused.lower(), (nocert, refused[-2000:])
    # With the host's own certificate, the same raw client gets through (the refusal above is
    # the missing certificate, not the client).
    ok = f"hdh-withcert-{os.urandom(6).hex()}"
    f.sh(
        "ws0",
        f"echo {_b64(f'<14>1 - ws0 raw - - - {ok}')} | base64 -d | timeout 10 openssl s_client "
        f"-quiet -CAfile /etc/ssl/hdh-platform-ca.pem -cert /etc/hdh/pki/host.pem "
        f"-key /etc/hdh/pki/host.key -connect {target} >/dev/null 2>&1; true",
    )
    time.sleep(3)
    stored_ws = f.sh("svc0", f"cat {stored}/{f.hosts['ws0'].name}/messages.log").stdout
    assert ok in stored_ws and probe not in stored_ws
    assert probe not in f.sh("svc0", f"cat {stored}/*/messages.log").stdout
    # The collector's certificate is checked by the clients (x509/name, serverAuth).
    conf = f.sh("data0", "cat /etc/rsyslog.d/00-hdh-anssi.conf").stdout
    assert f'StreamDriverPermittedPeers="{f.hosts["svc0"].name}"' in conf
    assert 'StreamDriver.CertFile="/etc/hdh/pki/host.pem"' in conf


def test_time_syncs_from_the_services_host(services_fleet: Fleet) -> None:
    f = services_fleet
    deadline = time.monotonic() + 120
    tracking = ""
    while time.monotonic() < deadline:
        tracking = f.sh("data0", "chronyc -n tracking", ok=False).stdout
        if f"({SVC})" in tracking and "Not synchronised" not in tracking:
            break
        time.sleep(2)
    else:
        raise AssertionError(f"data0 does not follow {SVC}: {tracking}")
    assert "^*" in f.sh("data0", "chronyc -n sources").stdout  # the selected source
    assert (
        f"allow {fleet.TIERS['data']}"
        in f.sh("svc0", "cat /etc/chrony/conf.d/hdh-anssi.conf").stdout
    )


def test_metrics_are_open_to_the_services_tier_only(services_fleet: Fleet) -> None:
    f = services_fleet
    ws = f"http://{fleet.FLEET[3].address}:{PORTS['metricsPort']}/metrics"
    assert f.python("svc0", HTTP, ws) == "200"
    for label in ("data0", "bastion"):  # any other host: dropped by the workspace's firewall
        assert f.python(label, HTTP, ws).startswith("ERR"), label
    targets = json.loads(f.python("svc0", API, "http://127.0.0.1:9090/api/v1/targets"))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        active = targets["data"]["activeTargets"]
        if len(active) == 4 and all(t["health"] == "up" for t in active):
            break
        time.sleep(3)
        targets = json.loads(f.python("svc0", API, "http://127.0.0.1:9090/api/v1/targets"))
    else:
        raise AssertionError(f"not every host is scraped: {targets}")
    rules = json.loads(f.python("svc0", API, "http://127.0.0.1:9090/api/v1/rules"))
    names = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert {"HostDown", "DiskAlmostFull", "AuditdStopped", "HardeningDrift"} <= names


@pytest.mark.parametrize(
    ("label", "role", "log_remote"),
    [("svc0", "services", None), ("data0", "data-host", f"{SVC}:{PORTS['logPort']}")],
)
def test_the_bp028_checks_pass_on_a_wired_host(
    services_fleet: Fleet, label: str, role: str, log_remote: str | None
) -> None:
    """The testinfra checks by R-number, as on any host: the services role's, and a client's
    log forwarding over mutual TLS (R71) and listening ports (R80: flows restricted by source)."""
    h = services_fleet.hosts[label]
    report = OUT / h.name
    argv = [
        sys.executable, "-m", "pytest", "tests/hardening/checks", "-q", "-p", "no:cacheprovider",
        f"--hosts=paramiko://{h.name}", f"--ssh-config={testbed.ssh_config_path()}", "--sudo",
        f"--hdh-role={role}", f"--hdh-report={report}",
        *([f"--hdh-log-remote={log_remote}"] if log_remote else []),
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    doc = json.loads((report / "report.json").read_text())
    failed = {r: c for r, c in doc["controls"].items() if c["result"] == "failed"}
    assert proc.returncode == 0 and not failed, proc.stdout[-3000:]
    if log_remote:
        assert doc["controls"]["R71"]["result"] == "passed"


def _firing(f: Fleet, alert: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = f.python("svc0", API, "http://127.0.0.1:9093/api/v2/alerts")
        found = [a for a in json.loads(body) if a["labels"].get("alertname") == alert]
        if found:
            return found
        time.sleep(5)
    raise AssertionError(f"{alert} never reached Alertmanager in {timeout:.0f} s")


def test_a_hardening_drift_raises_an_alert(services_fleet: Fleet) -> None:
    f = services_fleet
    f.sh("data0", "sysctl -w net.ipv4.conf.all.accept_redirects=1")  # drift, as a person might
    rc, results, out = f.harden("--check", "--publish-drift")
    assert rc == 0, out
    drifted = {r["host"]: r["changed"] for r in results}
    assert drifted[f.hosts["data0"].name], out
    alerts = _firing(f, "HardeningDrift", 120)
    assert {a["labels"]["source"] for a in alerts} == {f.hosts["data0"].name}


def test_the_backup_job_is_scheduled_with_its_credential_root_only(services_fleet: Fleet) -> None:
    f = services_fleet
    f.sh("svc0", "python3 /usr/local/sbin/hdh-backup --help >/dev/null")  # its SDK is there
    assert f.sh("svc0", "stat -c %U:%a /etc/hdh/backup.json").stdout.strip() == "root:600"
    config = json.loads(f.sh("svc0", "cat /etc/hdh/backup.json").stdout)
    assert config["credentialSecret"] == "testbed-fleet-not-a-real-secret"
    assert config["stack"] == f.hosts["svc0"].name.rsplit("-", 1)[0]
    timer = f.sh("svc0", "systemctl show -p TimersCalendar hdh-backup.timer").stdout
    assert "02:30:00" in timer
    assert f.sh("svc0", "systemctl is-enabled hdh-backup.timer").stdout.strip() == "enabled"
    for label in ("bastion", "data0", "ws0"):  # one job for the platform, on the first host
        assert f.sh(label, "test -e /etc/hdh/backup.json", ok=False).returncode == 1


def test_a_host_that_stops_raises_an_alert(services_fleet: Fleet) -> None:
    """Last: the workspace is powered off for good."""
    f = services_fleet
    start = time.monotonic()
    f.sh("ws0", "systemctl poweroff", ok=False)
    alerts = _firing(f, "HostDown", 240)
    _time("host stopped -> HostDown in Alertmanager", time.monotonic() - start)
    assert {a["labels"]["host"] for a in alerts} == {f.hosts["ws0"].name}
    assert alerts[0]["labels"]["severity"] == "critical"
