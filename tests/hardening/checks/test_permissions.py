"""R29 R50 R53 R54 R56: permissions of sensitive files, ownerless files, sticky and setuid bits."""

from __future__ import annotations

from typing import Any

import pytest

from hardening import data
from hardening.facts import OpenHomeFiles, glob_command

LOCAL = "findmnt -rn -o TARGET -t ext2,ext3,ext4,xfs,btrfs,tmpfs,overlay"
# setuid/setgid files Debian 12 ships in the packages of our image (R56 allow-list).
SETUID_ALLOWED = {
    "/usr/bin/chfn",
    "/usr/bin/chsh",
    "/usr/bin/gpasswd",
    "/usr/bin/mount",
    "/usr/bin/newgrp",
    "/usr/bin/passwd",
    "/usr/bin/su",
    "/usr/bin/sudo",
    "/usr/bin/umount",
    "/usr/bin/chage",
    "/usr/bin/expiry",
    "/usr/bin/crontab",
    "/usr/bin/ssh-agent",
    "/usr/sbin/unix_chkpwd",
    "/usr/lib/openssh/ssh-keysign",
    "/usr/lib/dbus-1.0/dbus-daemon-launch-helper",
    "/usr/sbin/pam_extrausers_chkpwd",
    "/usr/bin/fusermount3",
    "/usr/bin/fusermount",
    "/usr/lib/polkit-1/polkit-agent-helper-1",
    "/usr/bin/pkexec",
    "/usr/bin/wall",
    "/usr/bin/write.ul",
    "/usr/bin/bsd-write",
    "/usr/bin/dotlockfile",
    "/usr/bin/ntfs-3g",
    "/usr/lib/x86_64-linux-gnu/utempter/utempter",
}


def paths(rnum: str) -> list[str]:
    return sorted(
        s.key
        for s in data.baseline("permissions", "high").values()
        if s.key.startswith("/") and s.control == rnum
    )


def check_perms(host: Any, expect: Any, key: str) -> None:
    owner, group, mode = str(expect("permissions", key)).split(":")
    found = [key]
    if "*" in key:  # every file the glob matches on the host
        found = host.run(glob_command(key)).stdout.split()
    for path in found:
        f = host.file(path)
        if not f.exists:
            pytest.skip(f"{path} does not exist on this host")
        assert (f.user, f.group) == (owner, group), f"{path} is {f.user}:{f.group}"
        assert f.mode == int(mode, 8), f"{path} mode {oct(f.mode)}, want {mode}"
    if not found:
        pytest.skip(f"nothing matches {key} on this host")


@pytest.mark.parametrize("path", paths("R50"))
def test_r50_sensitive_files(host: Any, expect: Any, path: str) -> None:
    check_perms(host, expect, path)


@pytest.mark.parametrize("path", paths("R29"))
def test_r29_boot_access(host: Any, expect: Any, path: str) -> None:
    check_perms(host, expect, path)


def test_r53_no_ownerless_files(host: Any) -> None:
    out = host.run(
        f'{LOCAL} | while read -r m; do find "$m" -xdev \\( -nouser -o -nogroup \\) '
        "-print 2>/dev/null; done | head -20"
    )
    assert out.stdout.strip() == "", f"files without a known owner: {out.stdout}"


def test_r54_sticky_world_writable(host: Any) -> None:
    out = host.run(
        f'{LOCAL} | while read -r m; do find "$m" -xdev -type d -perm -0002 ! -perm -1000 '
        "-print 2>/dev/null; done | head -20"
    )
    assert out.stdout.strip() == "", f"world-writable directories without sticky bit: {out.stdout}"


def test_r56_setuid_allow_list(host: Any) -> None:
    out = host.run(
        f'{LOCAL} | while read -r m; do find "$m" -xdev -type f -perm /6000 '
        "-print 2>/dev/null; done"
    )
    found = set(out.stdout.split())
    assert found - SETUID_ALLOWED == set(), (
        f"unexpected setuid/setgid files: {found - SETUID_ALLOWED}"
    )


def test_r50_private_homes(host: Any, expect: Any) -> None:
    if not expect("permissions", "private_homes"):
        pytest.skip("not required for this role")
    out = host.run(OpenHomeFiles().command())
    assert out.rc == 0, out.stderr
    assert out.stdout.split("\n") == [""], f"home files open beyond 0750/0740: {out.stdout}"
