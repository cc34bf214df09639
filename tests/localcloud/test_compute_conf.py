"""The compute modes' configuration and the NFS stand-in, rendered without a cloud (unit tier)."""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest

from localcloud import compute, confs, wrappers
from localcloud.paths import Layout

PW = {k: "pw" for k in ("db", "rabbit", "admin", "hdh-platform", "simple_crypto_kek")} | {
    k: "pw" for k in ("glance", "placement", "nova", "neutron", "barbican", "swift", "cinder")
}


def _ini(text: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(text)
    return cp


@pytest.mark.parametrize("mode", compute.MODES)
def test_compute_host_file_names_the_host_and_its_driver(tmp_path: Path, mode: str) -> None:
    files = confs.render(Layout(tmp_path), PW, 1, mode)
    own = _ini(files["nova/compute1.conf"])
    assert own["DEFAULT"]["host"] == confs.compute_hosts(1)[0]
    # The linuxbridge agent's host must equal Nova's, or ports cannot bind.
    assert _ini(files["neutron/host1.conf"])["DEFAULT"]["host"] == own["DEFAULT"]["host"]
    # The driver is chosen in the compute host's own file only: the APIs never see it.
    assert "compute_driver" not in _ini(files["nova/nova.conf"])["DEFAULT"]
    if mode == "fake":
        assert own["DEFAULT"]["compute_driver"] == "fake.FakeDriver"
        assert "libvirt/libvirtd.conf" not in files
    else:
        assert own["DEFAULT"]["compute_driver"] == "libvirt.LibvirtDriver"
        assert own["libvirt"]["virt_type"] == "qemu"  # never KVM: /dev/kvm here is kvm_pvm
        assert own["DEFAULT"]["force_config_drive"] == "true"
        assert own["DEFAULT"]["vif_plugging_is_fatal"] == "true"
        helper = own["nova_sys_admin"]["helper_command"]
        assert f"PATH={tmp_path / 'bin'}:" in helper and "privsep-helper" in helper
        assert {"libvirt/libvirtd.conf", "libvirt/virtlogd.conf"} <= set(files)


def test_security_groups_are_enforced_by_iptables(tmp_path: Path) -> None:
    agent = _ini(confs.render(Layout(tmp_path), PW, 1, "real")["neutron/linuxbridge_agent.ini"])
    assert agent["securitygroup"]["enable_security_group"] == "true"
    assert agent["securitygroup"]["firewall_driver"] == "iptables"


def test_cinder_backs_up_to_a_directory(tmp_path: Path) -> None:
    cinder = _ini(confs.render(Layout(tmp_path), PW, 1, "fake")["cinder/cinder.conf"])
    assert cinder["DEFAULT"]["backup_driver"].endswith("PosixBackupDriver")
    assert cinder["DEFAULT"]["backup_posix_path"].startswith(str(tmp_path))


def test_qemu_runs_unconfined_as_root_without_kvm() -> None:
    text = compute.QEMU_CONF_TEXT
    assert 'user = "root"' in text and "namespaces = [ ]" in text
    assert "kvm" not in text.lower()


def _wrapper(tmp_path: Path, *args: str) -> str:
    script = tmp_path / "mount"
    script.write_text(wrappers.mount(confs.SHARE, tmp_path / "export", real="echo"))
    script.chmod(0o755)
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_mount_wrapper_binds_our_share_only(tmp_path: Path) -> None:
    mp = str(tmp_path / "mnt")
    assert _wrapper(tmp_path, "-t", "nfs", confs.SHARE, mp) == f"--bind {tmp_path}/export {mp}"
    got = _wrapper(tmp_path, "-t", "nfs", "-o", "vers=4", confs.SHARE, mp)
    assert got == f"--bind {tmp_path}/export {mp}"
    # Any other share, type or call goes to the real mount untouched.
    assert _wrapper(tmp_path, "-t", "nfs", "10.0.0.1:/x", mp) == f"-t nfs 10.0.0.1:/x {mp}"
    assert _wrapper(tmp_path, "-t", "ext4", confs.SHARE, mp) == f"-t ext4 {confs.SHARE} {mp}"
    assert _wrapper(tmp_path, "--bind", "a", "b") == "--bind a b"
    assert _wrapper(tmp_path, "-t", "nfs", "a; touch x", mp) == f"-t nfs a; touch x {mp}"
    assert not (tmp_path / "x").exists()
    # A mount point that is one already is left as it is (Nova mounts again: no stacking).
    assert _wrapper(tmp_path, "-t", "nfs", confs.SHARE, "/proc") == ""


@pytest.mark.cloud
def test_blank_encrypted_volumes_become_raw_luks(tmp_path: Path) -> None:
    # What Cinder's NFS driver runs for a blank volume of an encrypted type, through bin/qemu-img.
    wrapper = tmp_path / "qemu-img"
    wrapper.write_text(wrappers.QEMU_IMG)
    wrapper.chmod(0o755)
    key = tmp_path / "key"
    key.write_text("00" * 32)
    vol = tmp_path / "volume"
    opts = (
        "encrypt.format=luks,encrypt.key-secret=sec1,encrypt.cipher-alg=aes-128,"
        "encrypt.cipher-mode=xts,encrypt.ivgen-alg=plain64"
    )
    subprocess.run(
        [
            *(str(wrapper), "create", "-f", "qcow2", "-o", opts),
            *("--object", f"secret,id=sec1,format=raw,file={key}", str(vol), str(2**30)),
        ],
        check=True,
        capture_output=True,
    )
    assert vol.read_bytes()[:6] == b"LUKS\xba\xbe"
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(vol)], capture_output=True, text=True, check=True
    ).stdout
    assert '"format": "luks"' in info and '"virtual-size": 1073741824' in info
    # Other creations pass through untouched.
    plain = tmp_path / "plain"
    subprocess.run([str(wrapper), "create", "-f", "qcow2", str(plain), "1M"], check=True)
    assert plain.read_bytes()[:4] == b"QFI\xfb"


def test_emulator_caps_the_translation_cache_only(tmp_path: Path) -> None:
    script = tmp_path / "qemu"
    script.write_text(wrappers.QEMU_SYSTEM.replace("exec /usr/bin/qemu-system-x86_64", "echo"))
    script.chmod(0o755)

    def run(*args: str) -> str:
        return subprocess.run([str(script), *args], capture_output=True, text=True).stdout.strip()

    size = wrappers.TB_SIZE_MIB
    assert (
        run("-name", "x", "-accel", "tcg", "-m", "512")
        == f"-name x -accel tcg,tb-size={size} -m 512"
    )
    assert run("-machine", "none,accel=kvm:tcg") == "-machine none,accel=kvm:tcg"  # libvirt's probe
    assert run("-accel", "kvm") == "-accel kvm"
    assert run("-append", "tcg", "a b") == "-append tcg a b"


def test_every_service_checks_access_rules_against_its_catalog_type(tmp_path: Path) -> None:
    """An application credential with access rules (the backup job's) is refused by a service
    whose middleware has no service_type; Cinder's must be the type the profiles' rules name."""
    from components.profile import BackupsProfile

    files = confs.render(Layout(tmp_path), PW, 1, "real")
    cinder = _ini(files["cinder/cinder.conf"])["keystone_authtoken"]
    assert cinder["service_type"] == BackupsProfile().service_type == "volumev3"
    for name in ("nova/nova.conf", "neutron/neutron.conf", "glance/glance-api.conf"):
        assert _ini(files[name])["keystone_authtoken"]["service_type"], name


def test_domains_are_named_by_instance_uuid_with_the_clouds_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # By database id, a wiped cloud's next instance took the name of a definition an earlier
    # cloud left in libvirt and failed to spawn: names are per instance UUID instead.
    template = _ini(confs.render(Layout(tmp_path), PW, 1, "real")["nova/nova.conf"])
    name = template["DEFAULT"]["instance_name_template"]
    uuid = "6bc7e34a-0574-4531-8c98-642966d573bb"
    assert name % {"uuid": uuid} == f"{compute.DOMAIN_PREFIX}{uuid}"
    with pytest.raises(TypeError):  # what makes Nova format it with the instance's fields
        name % 7
    # Only the local cloud's domains are counted, powered off or forgotten.
    listing = f"instance-00000007\n{compute.DOMAIN_PREFIX}{uuid}\nsomeone-elses-vm\n\n"
    calls: list[tuple[str, ...]] = []

    def fake_virsh(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        calls.append(args)
        return subprocess.CompletedProcess(["virsh", *args], 0, listing, "")

    monkeypatch.setattr(compute, "virsh", fake_virsh)
    assert compute.domains(all_states=True) == [f"{compute.DOMAIN_PREFIX}{uuid}"]
    assert compute.forget_domains() == [f"{compute.DOMAIN_PREFIX}{uuid}"]
    touched = {a[1] for a in calls if a[0] in ("destroy", "undefine")}
    assert touched == {f"{compute.DOMAIN_PREFIX}{uuid}"}


def test_a_guest_that_found_no_root_disk_is_rebooted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from localcloud import deployment

    stuck = f"{deployment.ROOT_NOT_FOUND}.\\nALERT!  /dev/vda does not exist.\\n(initramfs) "
    booted = (
        "-----BEGIN SSH HOST KEY KEYS-----\\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJe root@h\\n"
        "-----END SSH HOST KEY KEYS-----\\n"
    )
    consoles = [stuck, stuck, booted]
    reboots: list[str] = []

    class Compute:
        def find_server(self, name: str, ignore_missing: bool) -> str:
            return name

        def get_server_console_output(self, server: str) -> dict[str, str]:
            return {"output": consoles.pop(0) if len(consoles) > 1 else consoles[0]}

        def reboot_server(self, server: str, kind: str) -> None:
            reboots.append(kind)

    class Conn:
        compute = Compute()

    monkeypatch.setattr(deployment, "connect", lambda env: Conn())
    monkeypatch.setattr(deployment.time, "sleep", lambda s: None)
    monkeypatch.setattr(deployment.access, "host_keys", lambda c: ["k"] if "BEGIN SSH" in c else [])
    assert deployment.console_host_keys({}, "h", timeout=60) == ["k"]
    assert reboots == ["HARD"]  # once, although the console said so twice
