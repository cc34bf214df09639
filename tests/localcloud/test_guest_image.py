"""The guest image's recipe and cache key, and reading host keys off a console (unit tier)."""

from __future__ import annotations

import pytest

from localcloud import image
from localcloud.access import host_keys, known_hosts_lines
from localcloud.image import fs_size, guest_packages, image_hash


def test_guest_has_what_the_platform_expects() -> None:
    pkgs = set(guest_packages())
    assert {"cloud-init", "openssh-server", "qemu-guest-agent", "sudo", "python3"} <= pkgs
    assert "linux-image-cloud-amd64" in pkgs and "linux-image-amd64" not in pkgs
    # What hardening installs nothing for (the guests have no way out): the testbed's set.
    assert {"nftables", "auditd", "aide", "chrony", "rsyslog-gnutls", "openscap-scanner"} <= pkgs


def test_hash_follows_packages_and_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    base = image_hash(["sudo", "python3"])
    assert base == image_hash(["python3", "sudo", "sudo"]) and len(base) == 16
    assert image_hash(["sudo", "python3", "aide"]) != base
    monkeypatch.setattr(image, "CUSTOMIZE_HOOK", image.CUSTOMIZE_HOOK + "\ntrue\n")
    assert image_hash(["sudo", "python3"]) != base
    monkeypatch.setattr(image, "KERNEL_CMDLINE", "root=/dev/vdb")
    assert image_hash(["sudo", "python3"]) != base


def test_image_holds_no_account_key_or_identity() -> None:
    hook = image.CUSTOMIZE_HOOK
    assert "passwd --lock root" in hook
    assert 'rm -f "$r"/etc/ssh/ssh_host_*' in hook  # each instance makes its own host keys
    assert ': > "$r/etc/machine-id"' in hook
    assert "PasswordAuthentication no" in hook and "PermitRootLogin no" in hook
    assert "datasource_list: [ConfigDrive, None]" in hook


@pytest.mark.parametrize(
    ("used_mib", "size"), [(0, "256M"), (600, "1024M"), (620, "1088M"), (4000, "5312M")]
)
def test_filesystem_size(used_mib: int, size: str) -> None:
    assert fs_size(used_mib * 2**20) == size


CONSOLE = """[  1.0] boot
-----BEGIN SSH HOST KEY KEYS-----
ecdsa-sha2-nistp256 AAAAE2VjZHNh root@old
-----END SSH HOST KEY KEYS-----
noise
-----BEGIN SSH HOST KEY KEYS-----
ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTI root@host
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 root@host
garbage line
-----END SSH HOST KEY KEYS-----
"""


def test_host_keys_from_the_last_block() -> None:
    keys = host_keys(CONSOLE)
    assert keys == ["ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTI", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"]
    assert known_hosts_lines("[127.0.0.1]:2200", keys[1:]) == [
        "[127.0.0.1]:2200 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"
    ]


@pytest.mark.parametrize(
    "console",
    ["", "no block", "-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAA\n(cut)"],
)
def test_no_keys_until_the_block_is_complete(console: str) -> None:
    assert host_keys(console) == []
