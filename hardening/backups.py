"""The volume backup job on the first services host: script, configuration, timer.

The job (hardening/backupjob.py, copied as /usr/local/sbin/hdh-backup) backs the data tier's and
the bubbles' volumes up with the stack's least-privileged application credential
(components/backups.py), on the schedule and with the retention of the stack's `hdh:backups`.
Its configuration holds the credential's secret: uploaded over SFTP (never on a command line),
root only (0600).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from hardening import backupjob, collector, ops, tier, tierops
from hardening.common import role_name

SCRIPT = "/usr/local/sbin/hdh-backup"
CONFIG = "/etc/hdh/backup.json"


def job_config(section: dict, stack: str) -> str:
    keys = ("kind", "keepDaily", "keepWeekly", "incremental", "region", "authUrl",
            "applicationId", "credentialSecret", "volumes")  # fmt: skip
    doc = {"stack": stack, **{k: section[k] for k in keys if k in section}}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


@deploy("Volume backups")
def backups() -> None:
    section = host.data.get("services_backups")
    if role_name() != tier.SERVICES_ROLE or not section:
        return  # only the first services host runs the job
    if not section.get("credentialSecret"):
        ops.skipped(
            name="volume backup job",
            reason="the backup credential's secret is not in the outputs: `pulumi stack output "
            "--json --show-secrets | hdh harden --inventory -` (or HDH_BACKUP_CREDENTIAL_SECRET)",
        )
        return
    tierops.fetched_packages(name="OpenStack SDK for the job", packages=["python3-openstacksdk"])
    ops.validated_file(
        name="volume backup job",
        path=SCRIPT,
        content=Path(backupjob.__file__).read_text(),
        mode="0755",
        validate="python3 -m py_compile {} && rm -rf /usr/local/sbin/__pycache__",
    )
    files.directory(name="backup configuration directory", path="/etc/hdh", mode="0755")
    files.put(
        name="volume backup job: volumes, retention, credential (root only)",
        src=io.StringIO(job_config(section, str(host.data.get("services_stack")))),
        dest=CONFIG,
        user="root",
        group="root",
        mode="0600",
    )
    collector.timer_units(
        "hdh-backup",
        f"volume {section['kind']} of the data tier and the bubbles",
        f"{SCRIPT} --config {CONFIG}",
        calendar=str(section["schedule"]),
    )
