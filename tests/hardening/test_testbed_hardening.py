"""Hardening on the testbed: plant, converge, idempotence, no lock-out, testinfra by R-number.

Containers (fast tier) take two roles and every area; the VM (kernel tier) takes only the areas
a container cannot prove (sysctls, modules, mounts, auditd). Reports and timings are written to
build/hardening/ (report.json/.md per host, timings.json).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import testbed
from ground.paths import ROOT
from hardening import logs, ssh
from hardening.roles import KERNEL_AREAS
from hardening.run import HostResult, harden_hosts
from testbed import TestHost
from testbed.paths import named

pytestmark = pytest.mark.testbed

OUT = ROOT / "build" / "hardening"
CONTAINER_ROLES = ("bastion", "k8s-node")  # enhanced level + the role with the most deviations
VM_ROLE = "data-host"
TIMINGS: dict[str, float] = {}


def timed(label: str, *args: Any, **kwargs: Any) -> list[HostResult]:
    start = time.monotonic()
    results = harden_hosts(*args, **kwargs)
    TIMINGS[label] = round(time.monotonic() - start, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "timings.json").write_text(json.dumps(TIMINGS, indent=1) + "\n")
    return results


def sh(ssh_run: Any, h: TestHost, command: str) -> str:
    out = ssh_run(h, f"sudo -n sh -c {json.dumps(command)}")
    assert out.returncode == 0, f"{h.name}: {command}: {out.stderr}"
    return str(out.stdout)


def checks(h: TestHost, role: str, ssh_config: Path, *extra: str) -> dict[str, Any]:
    """Run the testinfra checks against one host as any operator would; return its report."""
    report = OUT / h.name
    argv = [
        sys.executable, "-m", "pytest", "tests/hardening/checks", "-q", "-p", "no:cacheprovider",
        f"--hosts=paramiko://{h.name}", f"--ssh-config={ssh_config}", "--sudo",
        f"--hdh-role={role}", f"--hdh-report={report}", *extra,
    ]  # fmt: skip
    if "log_remote" in h.log_data():
        argv.append(f"--hdh-log-remote={h.log_data()['log_remote']}")
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    doc = json.loads((report / "report.json").read_text())
    failed = {r: c for r, c in doc["controls"].items() if c["result"] == "failed"}
    assert proc.returncode == 0 and not failed, f"{h.name}: {proc.stdout[-3000:]}"
    return doc


def assert_forwarded(ssh_run: Any, h: TestHost, timeout: float = 60.0) -> None:
    """`logger` on the host; the message must arrive at the testbed's log collector, which
    speaks TLS only and is trusted through the CA the hardening installed (logsink.py)."""
    assert h.log_file is not None, f"{h.name}: no log collector"
    message = f"hdh-check: hdh-probe-{os.urandom(6).hex()}"  # sudo's own log line has no colon
    sh(ssh_run, h, f"logger -t {message}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if message in h.log_file.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError(f"{h.name}: {message!r} not at the log host after {timeout:.0f} s")


@pytest.fixture(scope="module")
def fleet(testbed_containers: list[TestHost]) -> list[tuple[TestHost, str]]:
    assert len(testbed_containers) >= 2, "needs two containers (HDH_TESTBED_CONTAINERS>=2)"
    return list(zip(testbed_containers[:2], CONTAINER_ROLES, strict=True))


def test_unreachable_host_is_named(tmp_path: Path) -> None:
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    fake = TestHost("hdh-nowhere", "container", "127.0.0.1", 9, "deploy", key)
    (result,) = harden_hosts([fake.pyinfra_host("base")])
    assert result.error is not None
    assert result.error.startswith("hdh-nowhere: step connect: unreachable"), result.error


def test_containers_converge_then_change_nothing(
    fleet: list[tuple[TestHost, str]], ssh_run: Any, testbed_ssh_config: Path
) -> None:
    (c1, role1), (c2, role2) = fleet
    # Prepare (dev-sec style): plant what the deploy must fix, and a half-configured host.
    for h in (c1, c2):
        sh(ssh_run, h, "mkdir -p /srv/drop && chmod 0777 /srv/drop")  # R54: no sticky bit
        sh(ssh_run, h, "usermod -s /bin/sh daemon")  # R34: a system account with a shell
        sh(ssh_run, h, "sysctl -w net.ipv4.conf.all.accept_redirects=1")  # R12: drifted
    sh(ssh_run, c2, "echo 'HdhPlantedBogusKeyword yes' >> /etc/ssh/sshd_config")
    # On hosts kept from an earlier session the drop-in exists: drop it so sshd -t must run.
    sh(ssh_run, c2, f"rm -f {ssh.DROP_IN}")

    # An "interrupted" first run: only some areas, then the broken host fails at a named step.
    timed(
        "containers: partial run (packages, accounts)",
        [c1.pyinfra_host(role1)],
        ["packages", "accounts"],
    )
    first = {
        r.name: r
        for r in timed("containers: first run", [c1.pyinfra_host(role1), c2.pyinfra_host(role2)])
    }
    assert first[c1.name].error is None, first[c1.name].error
    assert first[c1.name].changed, "a fresh host must need changes"
    err = first[c2.name].error or ""
    assert err.startswith(f"{c2.name}: step ") and "sshd drop-in" in err and "rejected" in err, err
    assert ssh_run(c2, "sudo -n true").returncode == 0, "the failed sshd step locked us out"
    assert Path(ssh.DROP_IN).name not in sh(ssh_run, c2, "ls /etc/ssh/sshd_config.d/")

    # The operator fixes the host; the next run converges, the one after changes nothing.
    sh(ssh_run, c2, "sed -i '/HdhPlantedBogusKeyword/d' /etc/ssh/sshd_config")
    second = timed("containers: converge", [c1.pyinfra_host(role1), c2.pyinfra_host(role2)])
    assert [r.error for r in second] == [None, None], [r.error for r in second]
    third = timed("containers: idempotent re-run", [c1.pyinfra_host(role1), c2.pyinfra_host(role2)])
    assert {r.name: r.changed for r in third} == {c1.name: [], c2.name: []}
    assert {r.kind for r in third} == {"container"}

    # Verify (dev-sec style): the planted cases are fixed, the deploy user still gets in.
    for h in (c1, c2):
        assert sh(ssh_run, h, "stat -c %a /srv/drop").strip() == "1777"
        assert sh(ssh_run, h, "getent passwd daemon").strip().endswith(":/usr/sbin/nologin")
        assert sh(ssh_run, h, "sysctl -n net.ipv4.conf.all.accept_redirects").strip() == "0"
        fresh = ssh_run(h, "sudo -n id -un")  # a new SSH login, as after any reboot
        assert fresh.returncode == 0 and fresh.stdout.strip() == "root", fresh.stderr
    assert sh(ssh_run, c1, "stat -c %G:%a /usr/bin/sudo").strip() == "sudo:4750"  # R38 bastion
    assert "10250" in sh(ssh_run, c2, "nft list table inet hdh_filter")  # k8s-node deviation
    # R55: a user's session gets a /tmp and /var/tmp of its own; the shared ones do not see it.
    sh(ssh_run, c1, "id hdhr55 >/dev/null 2>&1 || useradd -m -s /bin/bash hdhr55")
    sh(ssh_run, c1, "su -l hdhr55 -c 'echo x > /tmp/r55 && echo x > /var/tmp/r55'")
    seen = sh(
        ssh_run,
        c1,
        "ls /tmp/r55 /var/tmp/r55 /tmp/.inst/hdhr55/r55 /var/tmp/.inst/hdhr55/r55 2>&1; true",
    )
    assert "/tmp/.inst/hdhr55/r55\n" in seen and "/var/tmp/.inst/hdhr55/r55\n" in seen, seen
    assert "ls: cannot access '/tmp/r55'" in seen and "'/var/tmp/r55'" in seen, seen
    left = "/tmp/.inst/hdhr55 /var/tmp/.inst/hdhr55 /var/log/faillock/hdhr55"
    sh(ssh_run, c1, f"userdel -r hdhr55 2>/dev/null; rm -rf {left}")
    for h in (c1, c2):  # R71: a message logged on the host reaches its log host, over TLS
        assert_forwarded(ssh_run, h)
    # ... and only to the log host its certificate names: another permitted name, nothing sent.
    conf = logs.RSYSLOG_DROP_IN
    sh(ssh_run, c2, f'sed -i \'s/PermittedPeers="[^"]*"/PermittedPeers="other.test"/\' {conf}')
    sh(ssh_run, c2, "systemctl restart rsyslog")
    with pytest.raises(AssertionError, match="not at the log host"):
        assert_forwarded(ssh_run, c2, timeout=10)
    assert "peer name not authorized" in sh(ssh_run, c2, "journalctl -u rsyslog -n 50 -q")
    (fixed,) = timed("containers: logging area, drifted", [c2.pyinfra_host(role2)], ["logging"])
    assert fixed.error is None and len(fixed.changed) == 1, (fixed.error, fixed.changed)
    assert_forwarded(ssh_run, c2)

    start = time.monotonic()
    for h, role in fleet:
        doc = checks(h, role, testbed_ssh_config)
        assert doc["hosts"] == [{"host": h.name, "kind": "container"}]
        assert doc["summary"]["passed"] >= 30
    TIMINGS["containers: testinfra checks"] = round(time.monotonic() - start, 1)
    (OUT / "timings.json").write_text(json.dumps(TIMINGS, indent=1) + "\n")


def test_enhanced_refuses_forwarding_in_clear(fleet: list[tuple[TestHost, str]]) -> None:
    """A log host without its CA on an enhanced host: a clear error naming the host, the step and
    the missing host data, before any operation runs (nothing half-applied)."""
    (c1, role), _ = fleet
    name, hdata = c1.pyinfra_host(role)
    (r,) = harden_hosts([(name, {**hdata, "log_remote_ca": None})])
    assert r.error is not None and r.error.startswith(f"{c1.name}: step prepare, "), r.error
    assert "log_remote_ca missing" in r.error and "enhanced" in r.error, r.error
    assert r.changed == []  # the operations planned before the logging area never ran


def test_a_killed_run_converges_on_the_next(testbed_session: None, tmp_path: Path) -> None:
    """`hdh harden` killed (SIGKILL, its SSH connections cut) right after it rewrote the sshd
    drop-in, with the areas after it not done: the deploy user still gets in, the next run
    converges, the one after changes nothing. A fresh container of its own."""
    with named(f"{testbed.prefix()}k"):
        try:
            (h,) = testbed.up(containers=1)
            inventory = tmp_path / "outputs.json"
            inventory.write_text(
                json.dumps(
                    {"hosts": [{"name": h.name, "address": h.host, "port": h.port, "role": "base"}]}
                )
            )
            argv = [
                str(Path(sys.executable).with_name("hdh")), "harden", "--inventory",
                str(inventory), "--ssh-key", str(h.key_path), "--known-hosts", "/dev/null",
                "--host-key-check", "no",
            ]  # fmt: skip
            marker = ssh.DROP_IN  # the ssh area, 4th of 15
            proc = subprocess.Popen(
                argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline and proc.poll() is None:
                    probe = subprocess.run(
                        h.ssh_argv(f"sudo -n test -e {marker}"), capture_output=True, check=False
                    )
                    if probe.returncode == 0:
                        break
                    time.sleep(0.3)
                assert proc.poll() is None, "the run ended before it could be killed mid-way"
                os.killpg(proc.pid, signal.SIGKILL)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            # Mid-way indeed: a late area (AIDE's database, the last area) is not there yet.
            late = subprocess.run(
                h.ssh_argv("sudo -n test -e /var/lib/aide/aide.db"), capture_output=True
            )
            assert late.returncode == 1, "the killed run had already reached the last area"
            assert subprocess.run(h.ssh_argv("sudo -n true"), check=False).returncode == 0

            (second,) = harden_hosts([h.pyinfra_host("base")])
            assert second.error is None, second.error
            assert second.changed, "the areas after the kill were left to this run"
            (third,) = harden_hosts([h.pyinfra_host("base")])
            assert third.error is None and third.changed == [], third.changed
            fresh = subprocess.run(
                h.ssh_argv("sudo -n id -un"), capture_output=True, text=True, check=False
            )
            assert fresh.returncode == 0 and fresh.stdout.strip() == "root", fresh.stderr
        finally:
            testbed.down()


def test_vm_kernel_controls(testbed_vm: TestHost, ssh_run: Any, testbed_ssh_config: Path) -> None:
    vm = testbed_vm
    sh(ssh_run, vm, "sysctl -w kernel.kptr_restrict=0")  # R9: drifted, kernel-global
    first = timed("vm: kernel areas first run", [vm.pyinfra_host(VM_ROLE)], list(KERNEL_AREAS))
    assert first[0].error is None and first[0].kind == "vm", first[0].error
    assert any("R9" in c for c in first[0].changed)
    again = timed("vm: kernel areas re-run", [vm.pyinfra_host(VM_ROLE)], list(KERNEL_AREAS))
    assert again[0].error is None and again[0].changed == [], again[0].changed
    assert ssh_run(vm, "sudo -n true").returncode == 0
    start = time.monotonic()
    doc = checks(vm, VM_ROLE, testbed_ssh_config, "-m", "kernel")
    TIMINGS["vm: testinfra kernel checks"] = round(time.monotonic() - start, 1)
    (OUT / "timings.json").write_text(json.dumps(TIMINGS, indent=1) + "\n")
    assert doc["hosts"] == [{"host": vm.name, "kind": "vm"}]
    for rnum in ("R9", "R11", "R12", "R14", "R28", "R73"):
        assert doc["controls"][rnum]["result"] == "passed", (rnum, doc["controls"][rnum])


def test_cli_through_the_bastion(
    fleet: list[tuple[TestHost, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hdh harden --check` from stack outputs: c1 is the bastion, a host behind it is reached
    with ProxyJump (here c1's own sshd on its loopback, the only address behind it)."""
    import argparse

    from hdh.commands import harden

    parser = argparse.ArgumentParser()
    harden.add_parser(parser.add_subparsers(dest="command"))
    (c1, _), _ = fleet
    outputs: dict[str, Any] = {
        "inventory": {
            "bastion": {"address": c1.host, "port": c1.port},
            "hosts": [
                {"name": "bastion-0", "address": c1.host, "port": c1.port, "role": "bastion"},
                {
                    "name": "behind-0",
                    "address": "127.0.0.1",
                    "port": 22,  # c1's own sshd, reachable only from inside c1
                    "role": "base",  # not the bastion: reached through the jump
                    "tier": "admin",
                },
            ],
        }
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    log_host = c1.log_data()  # the same log host as when c1 was hardened
    argv = ["harden", "--inventory", str(path), "--ssh-key", str(c1.key_path), "--check",
            "--known-hosts", "/dev/null", "--host-key-check", "no", "--json",
            str(tmp_path / "r.json"), "--log-remote", log_host["log_remote"],
            "--log-remote-ca", log_host["log_remote_ca"],
            "--log-remote-name", log_host["log_remote_name"]]  # fmt: skip
    start = time.monotonic()
    rc = harden.run(parser.parse_args(argv))  # what `hdh harden ...` runs
    TIMINGS["cli --check via bastion"] = round(time.monotonic() - start, 1)
    out = capsys.readouterr().out
    results = {r["host"]: r for r in json.loads((tmp_path / "r.json").read_text())}
    assert rc == 0, out
    assert results["bastion-0"]["changed"] == [] and results["bastion-0"]["kind"] == "container"
    # Same machine, other role: the base role's differences are predicted, nothing applied.
    assert results["behind-0"]["error"] is None and results["behind-0"]["changed"], out
    assert "would change" in out
