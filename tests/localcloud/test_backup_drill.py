"""Backups on the local cloud: the `local` stack's job credential backs the volumes up (and can do
nothing else), then the restore drill brings a bubble volume back with the content it had.

Needs the local cloud's cinder-backup service; without it the test is skipped, saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ground.paths import ROOT
from hdh.engine import ThrowawayProject

pytestmark = pytest.mark.cloud

STACK = "local"
PATTERN_OFFSET = 16 << 20  # past the LUKS header Cinder writes at the start of the file


def _hdh(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("hdh")), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )


@pytest.fixture
def deployed(
    tmp_path: Path, local_cloud: dict[str, str]
) -> Iterator[tuple[ThrowawayProject, dict]]:
    copy = ThrowawayProject(tmp_path, STACK, passphrase="local-cloud-test", env=local_cloud)
    try:
        res = copy.run("up", "--yes", "--skip-preview", check=False, timeout=2400)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-3000:]
        out = copy.run("stack", "output", "--json", "--show-secrets", check=False)
        yield copy, json.loads(out.stdout)
    finally:
        copy.run("destroy", "--yes", "--skip-preview", check=False, timeout=2400)
        copy.run("destroy", "--yes", "--skip-preview", check=False, timeout=2400)


def _volume_file(volume_id: str) -> Path:
    """The volume as Cinder's NFS driver stores it: a file on the local cloud's share."""
    from localcloud import confs
    from localcloud.paths import Layout, state_dir

    return confs.share_mount_point(Layout(state_dir())) / f"volume-{volume_id}"


# Found on the local cloud with real guests (the job's credential and its key-manager rules
# now pass): a backup of an attached volume needs a snapshot, and Cinder's NFS driver makes one
# as a qcow2 overlay of the volume file, which here is raw LUKS (localcloud/wrappers.py: the
# format Nova's native LUKS path needs): `qemu-img create -b json:{qcow2...}` fails ("Image is
# not in qcow2 format") and the backup stays `creating`. Until the local cloud can snapshot an
# attached encrypted volume, the drill cannot run here; deploying the stack to see it hang
# would cost the tier minutes.
NFS_SNAPSHOT_OF_RAW_LUKS = (
    "the local cloud's NFS driver cannot snapshot an attached raw-LUKS volume, which a backup of "
    "an in-use volume needs (docs/services.md, 'What is not proven yet')"
)


@pytest.mark.skip(reason=NFS_SNAPSHOT_OF_RAW_LUKS)
def test_backup_with_the_job_credential_and_restore_drill(
    deployed: tuple[ThrowawayProject, dict[str, Any]], local_cloud: dict[str, str]
) -> None:
    _, outputs = deployed
    section = outputs["inventory"]["backups"]
    bubble = next(v for v in section["volumes"] if v["tier"] == "bubble")
    # What the workspace wrote on its volume before the night's backup.
    path = _volume_file(bubble["id"])
    with open(path, "r+b") as fh:
        fh.seek(PATTERN_OFFSET)
        fh.write(os.urandom(1 << 20))
    expected = hashlib.sha256(path.read_bytes()).hexdigest()

    # The job, with its own restricted credential (no OS_* of the operator in its environment).
    job_env = {k: "" for k in local_cloud}
    run = _hdh("backup", "run", "--inventory", "-", env=job_env, stdin=json.dumps(outputs))
    if "cinder-backup" in run.stderr and "not be found" in run.stderr:
        pytest.skip("this local cloud runs no cinder-backup service (docs/local-cloud.md)")
    assert run.returncode == 0, run.stdout + run.stderr
    # ... and what it cannot do: anything outside its access rules.
    import openstack

    job = openstack.connect(
        auth_type="v3applicationcredential",
        auth={
            "auth_url": section["authUrl"],
            "application_credential_id": section["applicationId"],
            "application_credential_secret": outputs["backupCredentialSecret"],
        },
        region_name=section["region"],
        load_yaml_config=False,
        load_envvars=False,
    )
    with pytest.raises(openstack.exceptions.HttpException):
        job.block_storage.delete_volume(bubble["id"])
    with pytest.raises(openstack.exceptions.HttpException):
        list(job.compute.servers())

    # Later writes change the volume; the drill must bring back the backed-up content.
    with open(path, "r+b") as fh:
        fh.seek(PATTERN_OFFSET)
        fh.write(os.urandom(1 << 20))
    inventory = json.dumps(outputs)
    drill = _hdh("backup", "drill", "--inventory", "-", "--volume", bubble["name"],
                 "--expect-sha256", expected, env=local_cloud, stdin=inventory)  # fmt: skip
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "ok   content" in drill.stdout and "ok   encrypted" in drill.stdout
    wrong = _hdh("backup", "drill", "--inventory", "-", "--volume", bubble["name"],
                 "--expect-sha256", "0" * 64, env=local_cloud, stdin=inventory)  # fmt: skip
    assert wrong.returncode == 1 and "FAIL content" in wrong.stdout
