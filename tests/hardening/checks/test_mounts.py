"""R28: temporary directories mounted nosuid/nodev/noexec, live and in /etc/fstab; R55: one
per user (pam_namespace)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hardening import data, mounts


@pytest.mark.kernel
@pytest.mark.parametrize("path", sorted(k for k in data.baseline("mounts", "high") if k[0] == "/"))
def test_r28_mount_options(host: Any, expect: Any, path: str) -> None:
    spec = expect("mounts", path)
    mount = host.mount_point(path)
    assert mount.exists, f"{path} is not a mount point"
    missing = [o for o in spec["options"] if o not in mount.options]
    assert not missing, f"{path} mounted without {missing} ({mount.options})"
    fstab = [ln.split() for ln in host.file("/etc/fstab").content_string.splitlines()]
    entry = [f for f in fstab if len(f) >= 4 and not f[0].startswith("#") and f[1] == path]
    assert entry, f"{path} missing from /etc/fstab (lost at reboot)"
    assert set(spec["options"]) <= set(entry[-1][3].split(",")), f"fstab {path}: {entry[-1]}"


def test_r55_temporary_directories_per_user(host: Any, expect: Any) -> None:
    polydirs, exempt = expect("mounts", "namespace.polydirs"), expect("mounts", "namespace.exempt")
    conf = host.file(mounts.NAMESPACE_CONF).content_string
    entries = {ln.split()[0]: ln.split() for ln in conf.splitlines() if ln[:1] == "/"}
    assert sorted(entries) == sorted(polydirs), conf
    for d in polydirs:
        _, prefix, method, users = entries[d]
        assert (prefix, method) == (f"{d}/.inst/", "user"), entries[d]
        assert set(exempt) <= set(users.split(",")), users
        inst = host.file(f"{d}/.inst")
        assert inst.is_directory and (inst.user, inst.mode) == ("root", 0), (inst.user, inst.mode)
    session = host.file("/etc/pam.d/common-session").content_string
    assert re.search(r"^session\s+required\s+pam_namespace\.so", session, re.M), session
    # Interactive sessions only: sudo, cron and systemd --user keep the shared directories.
    noninteractive = host.file("/etc/pam.d/common-session-noninteractive").content_string
    assert "pam_namespace" not in noninteractive
