"""The testbed on this machine: hosts reached over SSH like real ones, up/down, one real scan."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import testbed
from testbed import TestHost, scap
from testbed.proc import alive
from testbed.state import load
from tests.testbed.fixtures import SshRun

pytestmark = pytest.mark.testbed


def test_containers_are_debian12_hosts_reached_as_deploy(
    testbed_containers: list[TestHost], ssh_run: SshRun
) -> None:
    for h in testbed_containers:
        res = ssh_run(
            h,
            "id -un; sudo -n id -u; . /etc/os-release; echo $VERSION_ID; systemd-detect-virt",
            tty=True,  # sudo may require a terminal once the host is hardened
        )
        assert res.returncode == 0, f"{h.name}: {res.stderr}"
        assert res.stdout.split() == ["deploy", "0", "12", "systemd-nspawn"], h.name


def test_vm_is_a_debian12_guest_with_its_own_kernel(testbed_vm: TestHost, ssh_run: SshRun) -> None:
    res = ssh_run(testbed_vm, "id -un; sudo -n id -u; systemd-detect-virt; uname -r", tty=True)
    assert res.returncode == 0, res.stderr
    user, uid, virt, kernel = res.stdout.split()
    assert (user, uid, virt) == ("deploy", "0", "qemu")
    assert kernel != os.uname().release  # its own Debian kernel, not the host's


def test_kernel_controls_are_real_in_the_vm_only(
    testbed_containers: list[TestHost], testbed_vm: TestHost, ssh_run: SshRun
) -> None:
    probe = "sudo -n sysctl -qw kernel.kptr_restrict=2 && echo writable; systemctl is-active auditd"
    vm = ssh_run(testbed_vm, probe, tty=True).stdout.split()
    assert vm == ["writable", "active"]
    ct = ssh_run(testbed_containers[0], probe, tty=True).stdout.split()
    assert "writable" not in ct and "active" not in ct  # host's kernel: read-only, no audit
    # Modules: the VM's own, loaded from its initrd; the container sees the host's (none here).
    assert {"virtio_net", "ext4"} <= _modules(ssh_run, testbed_vm)
    assert "virtio_net" not in _modules(ssh_run, testbed_containers[0])


def _modules(ssh_run: SshRun, host: TestHost) -> set[str]:
    return {line.split()[0] for line in ssh_run(host, "cat /proc/modules").stdout.splitlines()}


def test_key_only_logins_and_root_locked(
    testbed_containers: list[TestHost], ssh_run: SshRun
) -> None:
    h = testbed_containers[0]
    res = ssh_run(
        h, "sudo -n sshd -T | grep -E '^(passwordauthentication|permitrootlogin) '", tty=True
    )
    assert sorted(res.stdout.split()) == sorted(
        ["passwordauthentication", "no", "permitrootlogin", "no"]
    )
    assert ssh_run(h, "sudo -n passwd -S root", tty=True).stdout.split()[1] == "L"
    assert ssh_run(h, "sudo -n passwd -S deploy", tty=True).stdout.split()[1] == "L"


def test_ssh_config_serves_ssh_and_testinfra(
    testbed_containers: list[TestHost], testbed_ssh_config: Path
) -> None:
    import testinfra

    name = testbed_containers[0].name
    res = subprocess.run(
        ["ssh", "-F", str(testbed_ssh_config), name, "hostname"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.stdout.strip() == name, res.stderr
    host = testinfra.get_host(f"ssh://{name}", ssh_config=str(testbed_ssh_config), sudo=True)
    assert host.user().name == "root"
    assert host.service("ssh").is_running


def test_inventory_drives_pyinfra(
    testbed_containers: list[TestHost], testbed_inventory: Path
) -> None:
    groups = runpy.run_path(str(testbed_inventory))
    names = [name for name, _ in groups["containers"]]
    assert names == [h.name for h in testbed_containers]
    pyinfra = Path(sys.executable).with_name("pyinfra")
    res = subprocess.run(
        [str(pyinfra), "-y", "--limit", names[0], str(testbed_inventory), "exec", "--", "id -un"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "deploy" in res.stdout + res.stderr


def test_up_is_idempotent_and_down_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, testbed_session: None
) -> None:
    # A second, separate testbed (own names, own state) so the session's hosts are not touched.
    monkeypatch.setenv("HDH_TESTBED_NAME", "hdh-tbt")
    monkeypatch.setenv("HDH_TESTBED_STATE", str(tmp_path / "state"))
    try:
        first = testbed.up(containers=1)
        procs = [(p.pid, p.start) for h in load().values() for p in h.procs]
        # nspawn, init, 2 forwarders, the log collector
        assert first[0].name == "hdh-tbt-c1" and len(procs) == 5
        again = testbed.up(containers=1)
        assert again == first
        assert [(p.pid, p.start) for h in load().values() for p in h.procs] == procs

        assert testbed.down() == ["hdh-tbt-c1"]
        assert not any(alive(pid, start) for pid, start in procs)
        assert not Path("/run/netns/hdh-tbt-c1").exists()
        assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["lock"]
        assert testbed.status() == [] and testbed.down() == []
    finally:
        testbed.down()  # a failed assertion must not leave the host running (idempotent)


def test_openscap_scan_of_a_container(testbed_containers: list[TestHost], tmp_path: Path) -> None:
    res = scap.scan(testbed_containers[-1], scap.INTERMEDIARY, out_dir=tmp_path)
    counts = res.counts
    assert sum(counts.values()) == 220  # rules the intermediary profile selects on Debian 12
    assert counts["error"] == 0 and counts["pass"] > 50 and counts["fail"] > 0
    assert 0 < res.score < 100
    assert any("R31" in r.anssi for r in res.rules)


def test_ssg_fix_is_generated_for_both_profiles() -> None:
    for profile in (scap.INTERMEDIARY, scap.ENHANCED):
        script = scap.generate_ssg_fix(profile)
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash") and "sysctl_kernel_kptr_restrict" in text


def test_ssg_fix_of_the_tailored_profiles_applies_our_values() -> None:
    """oscap accepts our tailoring; SSG's fix generated from it sets the tailored values."""
    for profile in (scap.INTERMEDIARY_HDH, scap.ENHANCED_HDH):
        text = scap.generate_ssg_fix(profile).read_text()
        assert "var_password_pam_unix_rounds='8'" in text
        assert "var_postfix_root_mail_alias='hdh-admins'" in text
        assert "sysctl_net_ipv4_conf_all_arp_filter_value='1'" in text
        assert "rule_aide_build_database" not in text  # deselected


def test_ssg_remediation_baseline_on_a_twin(ssg_baseline: scap.SsgBaseline) -> None:
    before, after = ssg_baseline.before, ssg_baseline.after
    twin = f"{scap.twin_name()}-c1"  # hdh-tbs-c1 for the default testbed hdh-tb
    assert before.host == after.host == twin  # the twin, never a main testbed host
    assert after.profile == scap.INTERMEDIARY_HDH
    assert after.score > before.score and after.counts["pass"] > before.counts["pass"]
    # 220 rules in the stock profile, one deselected by the tailoring
    assert sum(after.counts.values()) == sum(before.counts.values()) == 219
    assert sum(ssg_baseline.also[scap.INTERMEDIARY].counts.values()) == 220
    assert not Path(f"/run/netns/{twin}").exists()  # taken down again
