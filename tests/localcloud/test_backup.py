"""Cinder backup and restore of a LUKS volume (POSIX driver on a directory): the backup holds
ciphertext only, and the restored volume opens with its own cloned key to the same bytes."""

from __future__ import annotations

import binascii
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localcloud.access import plain_text_in
from localcloud.deployment import connect
from localcloud.paths import Layout, state_dir
from tests.localcloud.conftest import probe

pytestmark = pytest.mark.cloud

PATTERN = 0x5A  # 1 MiB of "Z" written through LUKS: never seen in clear on the host


def _wait(get: Callable[[], Any], status: str, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while (res := get()).status != status:
        assert res.status != "error", f"{res.id}: error"
        assert time.monotonic() < deadline, f"{res.id}: still {res.status}"
        time.sleep(2)
    return res


def _key(conn: Any, volume_id: str) -> tuple[str, bytes]:
    """The volume's Barbican key id and material (Cinder's encryption metadata, Barbican)."""
    meta = conn.block_storage.get(f"/volumes/{volume_id}/encryption").json()
    key_id = meta["encryption_key_id"]
    payload = conn.key_manager.get(
        f"/secrets/{key_id}/payload", headers={"Accept": "application/octet-stream"}
    )
    return key_id, payload.content


def _qemu_io(volume_id: str, key: bytes, command: str, tmp: Path) -> subprocess.CompletedProcess:
    """`qemu-io` on the volume file through QEMU's LUKS driver (passphrase = hex of the key)."""
    pw = tmp / "pw"
    pw.write_text(binascii.hexlify(key).decode())
    pw.chmod(0o600)
    path = Layout(state_dir()).data / "cinder-export" / f"volume-{volume_id}"
    return subprocess.run(
        [
            *("qemu-io", "--object", f"secret,id=s0,file={pw}", "--image-opts"),
            f"driver=luks,key-secret=s0,file.driver=file,file.filename={path}",
            *("-c", command),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_backup_and_restore_of_a_luks_volume(local_cloud: dict[str, str], tmp_path: Path) -> None:
    conn = connect(local_cloud)
    vol = conn.block_storage.create_volume(name="hdh-backup-test", size=1, volume_type="luks")
    made: list[Any] = [vol]
    backup = None
    try:
        vol = _wait(lambda: conn.block_storage.get_volume(vol.id), "available")
        key_id, key = _key(conn, vol.id)
        wrote = _qemu_io(vol.id, key, f"write -P {PATTERN} 0 1M", tmp_path)
        assert wrote.returncode == 0, wrote.stderr
        backup = conn.block_storage.create_backup(volume_id=vol.id, name="hdh-backup-test")
        backup_id = backup.id
        backup = _wait(lambda: conn.block_storage.get_backup(backup_id), "available")
        files = [p for p in (Layout(state_dir()).data / "cinder-backup").rglob("*") if p.is_file()]
        assert files, "no backup file on the backup directory"
        assert not any(plain_text_in(p, bytes([PATTERN]) * 4096) for p in files)
        # Into a new volume of the same encrypted type (a restore without a volume would make
        # one of the default type, which Cinder refuses for an encrypted backup).
        new = conn.block_storage.create_volume(name="hdh-restored-test", size=1, volume_type="luks")
        made.append(new)
        new = _wait(lambda: conn.block_storage.get_volume(new.id), "available")
        conn.block_storage.restore_backup(backup, volume_id=new.id)
        new = _wait(lambda: conn.block_storage.get_volume(new.id), "available")
        assert (new.volume_type, new.is_encrypted) == ("luks", True)
        new_key_id, new_key = _key(conn, new.id)
        assert new_key_id != key_id  # a clone in Barbican, deleted with the volume
        read = _qemu_io(new.id, new_key, f"read -P {PATTERN} 0 1M", tmp_path)
        assert read.returncode == 0 and "Pattern verification failed" not in read.stdout, read
    finally:
        if backup is not None:
            conn.block_storage.delete_backup(backup, ignore_missing=True)
            deadline = time.monotonic() + 120
            while conn.block_storage.find_backup(backup.id) and time.monotonic() < deadline:
                time.sleep(2)
        for v in made:
            conn.block_storage.delete_volume(v, ignore_missing=True)
    left = probe(local_cloud, "leftovers")
    assert (left["volumes"], left["secrets"]) == ([], [])  # backup key deleted with the backup
    assert not [p for p in (Layout(state_dir()).data / "cinder-backup").rglob("*") if p.is_file()]
