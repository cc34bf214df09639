"""R28: temporary directories mounted nosuid/nodev/noexec, live and in /etc/fstab."""

from __future__ import annotations

from typing import Any

import pytest

from hardening import data


@pytest.mark.kernel
@pytest.mark.parametrize("path", sorted(data.baseline("mounts", "high")))
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
