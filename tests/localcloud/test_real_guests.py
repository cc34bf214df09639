"""The `local` stack's hosts really boot: SSH through the bastion, cloud-init's deploy user, LUKS
volumes opened by QEMU, security groups enforced; then `pulumi destroy` leaves nothing."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from hardening import inventory
from localcloud import access, cloud, wrappers
from localcloud.deployment import LocalDeployment, connect
from localcloud.paths import ADMIN_SOURCE, PUBLIC_CIDR, Layout, state_dir
from tests.localcloud.test_pulumi_local import assert_nothing_left

pytestmark = pytest.mark.cloud

OUTSIDE = PUBLIC_CIDR.rsplit(".", 1)[0] + ".1"  # the outside namespace's own public address
MARKER = "hdh-plaintext-marker-4f1c"
LISTEN = 8081  # a port no security group opens: a listener on it must stay unreachable


def _attachments(dep: LocalDeployment) -> list[dict[str, Any]]:
    res = json.loads(dep.pulumi("stack", "export"))["deployment"]["resources"]
    return [r["outputs"] for r in res if r["type"] == "openstack:compute/volumeAttach:VolumeAttach"]


def _servers(dep: LocalDeployment) -> dict[str, Any]:
    """The stack's servers as the admin sees them (libvirt's instance_name is admin-only)."""
    names = {h["name"] for h in dep.inventory["hosts"]}
    conn = connect(cloud.admin_env())
    return {s.name: s for s in conn.compute.servers(all_projects=True) if s.name in names}


def test_every_host_answers_ssh_through_the_bastion(real_deployment: LocalDeployment) -> None:
    dep = real_deployment
    assert {h["role"] for h in dep.inventory["hosts"]} == {
        "bastion",
        "services",
        "data",
        "workspace",
    }
    config = dep.ssh_config.read_text()
    for h in dep.inventory["hosts"]:
        assert dep.ssh(h["name"], "hostname").stdout.strip() == h["name"]
        block = config.split(f"Host {h['name']}\n", 1)[1].split("\nHost ", 1)[0]
        # Host keys come from each console: strict checking, never trust on first use.
        assert "StrictHostKeyChecking yes" in block
        jump = re.search(rf"^\s*ProxyJump {re.escape(inventory.BASTION)}$", block, re.M)
        assert (jump is not None) == (h["role"] != "bastion"), block


def test_cloud_init_made_the_deploy_user_with_the_stack_key(
    real_deployment: LocalDeployment,
) -> None:
    dep = real_deployment
    for h in dep.inventory["hosts"]:
        out = dep.ssh(
            h["name"],
            "cloud-init status --wait >/dev/null; cloud-init status; "
            "cat /run/cloud-init/instance-data.json | python3 -c "
            '\'import json,sys; print(json.load(sys.stdin)["v1"]["platform"])\'; '
            "sudo -n getent shadow $(id -un) | cut -d: -f2; cat ~/.ssh/authorized_keys; "
            "sudo -n passwd -S root | cut -d' ' -f2",
        ).stdout.splitlines()
        assert out[0] == "status: done", (h["name"], out)
        assert out[1] == "configdrive", out  # user data from Nova's config drive
        assert out[2][:1] in ("!", "*"), f"{h['name']}: the deploy user has a password"
        assert out[3:-1] == [dep.public_key]
        assert out[-1] == "L"  # root locked
        assert dep.ssh(h["name"], "id -un").stdout.strip() == dep.user


def test_boot_and_data_volumes_are_luks_opened_by_qemu(real_deployment: LocalDeployment) -> None:
    dep = real_deployment
    servers = _servers(dep)
    qemu = access.qemu_processes()
    nova_mnt = str(Layout(state_dir()).data / "nova-mnt")
    for h in dep.inventory["hosts"]:
        domain = servers[h["name"]].instance_name
        disks = [d for d in access.libvirt_disks(domain) if d["target"].startswith("vd")]
        assert disks, domain
        for d in disks:
            # Nova's native path: a LUKS disk QEMU opens itself (no dm-crypt device on the host).
            assert d["encryption"] == "luks", (h["name"], d)
            assert d["source"].startswith(nova_mnt) and access.is_luks(Path(d["source"])), d
        # QEMU itself decrypts: each volume is a `luks` block node over the file (hot-plugged
        # ones too), keyed by a libvirt secret.
        nodes = access.block_nodes(domain)
        luks = {n["file"] for n in nodes if n["driver"] == "luks"}
        assert luks == {d["source"] for d in disks}, nodes
        cmdline = access.qemu_cmdline(qemu[domain])
        assert '"driver":"luks","key-secret"' in cmdline
        assert f"-accel tcg,tb-size={wrappers.TB_SIZE_MIB} " in cmdline  # software emulation
    assert not list(Path("/dev/mapper").glob("crypt-*"))


def test_data_volume_is_usable_in_the_guest_and_ciphertext_on_the_host(
    real_deployment: LocalDeployment,
) -> None:
    dep = real_deployment
    data = dep.host("data")["name"]
    volume_id = next(
        a["volumeId"] for a in _attachments(dep) if a["instanceId"] == _servers(dep)[data].id
    )
    dev = f"/dev/disk/by-id/virtio-{volume_id[:20]}"
    out = dep.ssh(
        data,
        f"set -e; sudo -n umount -q /srv/data || true; "
        f"sudo -n mkfs.ext4 -q -F {dev}; sudo -n mkdir -p /srv/data; "
        f"sudo -n mount {dev} /srv/data; "
        f"for i in $(seq 64); do echo {MARKER}; done | sudo -n tee /srv/data/m >/dev/null; "
        "sudo -n sync; sudo -n umount /srv/data; "
        f"sudo -n mount {dev} /srv/data; grep -c {MARKER} /srv/data/m; sudo -n umount /srv/data",
    ).stdout
    assert out.strip() == "64"  # written, unmounted, mounted again: read back
    volume_file = Layout(state_dir()).data / "cinder-export" / f"volume-{volume_id}"
    assert access.is_luks(volume_file)
    assert not access.plain_text_in(volume_file, MARKER.encode())  # ciphertext at rest


def test_qemu_guest_agent_answers(real_deployment: LocalDeployment) -> None:
    for name, server in _servers(real_deployment).items():
        res = access.compute.virsh(
            "qemu-agent-command", server.instance_name, '{"execute":"guest-ping"}'
        )
        assert res.returncode == 0 and '"return"' in res.stdout, (name, res.stderr)


def _listen(dep: LocalDeployment, host: str) -> None:
    """A TCP listener on LISTEN that no security group opens (proves the drop is the group's)."""
    dep.ssh(
        host,
        f"nohup python3 -m http.server --bind 0.0.0.0 {LISTEN} </dev/null >/dev/null 2>&1 & "
        f"for i in $(seq 50); do ss -ltn | grep -q :{LISTEN} && exit 0; sleep 0.2; done; exit 1",
    )


def _from(dep: LocalDeployment, host: str, address: str, port: int) -> str:
    code = (
        "import socket,sys\ns=socket.socket();s.settimeout(4)\n"
        'try:\n s.connect((sys.argv[1],int(sys.argv[2])));print("open")\n'
        'except ConnectionRefusedError: print("refused")\n'
        'except OSError: print("timeout")\n'
    )
    return dep.ssh(host, f"python3 -c '{code}' {address} {port}").stdout.strip()


def test_security_groups_are_enforced(real_deployment: LocalDeployment) -> None:
    dep = real_deployment
    fip = dep.outputs["inventory"]["bastion"]["address"]
    bastion, services = dep.host("bastion"), dep.host("services")
    data, workspace = dep.host("data"), dep.host("workspace")
    for h in (bastion, services):
        _listen(dep, h["name"])
    assert _from(dep, bastion["name"], "127.0.0.1", LISTEN) == "open"
    # From outside: the bastion's SSH, from an admin address only; nothing else.
    assert access.probe_tcp(fip, 22, source=ADMIN_SOURCE) == "open"
    assert access.probe_tcp(fip, 22, source=OUTSIDE) == "timeout"  # not in hdh:adminCidrs
    assert access.probe_tcp(fip, LISTEN, source=ADMIN_SOURCE) == "timeout"
    # Even routed straight at the tier networks through the edge router, no other host answers.
    conn = connect(dep.env)
    edge = next(r for r in conn.network.routers() if r.external_gateway_info)
    gateway = edge.external_gateway_info["external_fixed_ips"][0]["ip_address"]
    with (
        access.route_in_outside_ns("10.90.0.0/16", gateway),  # the tiers
        access.route_in_outside_ns("10.91.0.0/16", gateway),  # the bubble pool
    ):
        for h in (services, data, workspace):
            assert access.probe_tcp(h["address"], 22, source=ADMIN_SOURCE) == "timeout", h
        assert access.probe_tcp(services["address"], LISTEN, source=ADMIN_SOURCE) == "timeout"
    # Inside: the bastion reaches SSH of managed hosts and nothing else of theirs.
    for h in (services, data, workspace):
        assert _from(dep, bastion["name"], h["address"], 22) == "open", h
    assert _from(dep, bastion["name"], services["address"], LISTEN) == "timeout"
    # A bubble's workspace reaches no other tier's SSH, and the data host no bubble.
    assert _from(dep, workspace["name"], data["address"], 22) == "timeout"
    bastion_ip = next(
        h["address"]
        for h in dep.outputs["inventory"]["hosts"]
        if h is not None and h["role"] == "bastion"
    )
    assert _from(dep, workspace["name"], bastion_ip, 22) == "timeout"
    assert _from(dep, data["name"], workspace["address"], 22) == "timeout"


def test_destroy_leaves_no_domain_process_tap_volume_or_key(
    real_deployment: LocalDeployment, local_cloud: dict[str, str]
) -> None:
    dep = real_deployment
    before = access.host_leftovers()
    assert len(before["domains"]) == len(dep.inventory["hosts"]) == len(before["qemu_processes"])
    assert before["tap_devices"] and before["volume_files"]
    dep.destroy()
    deadline = time.monotonic() + 120  # Cinder deletes volume files after Nova let them go
    while access.host_leftovers()["volume_files"] and time.monotonic() < deadline:
        time.sleep(2)
    assert_nothing_left(local_cloud)
    assert not [
        p
        for p in (Layout(state_dir()).data / "nova" / "instances").iterdir()
        if re.fullmatch(r"[0-9a-f-]{36}", p.name)
    ]
