"""Backups of the data tier's and the bubbles' volumes: the least-privileged credential of the job.

The backup job (hardening/backupjob.py, run by a timer on the first services host) uses an
application credential that can do exactly what it needs and nothing else: Keystone access rules
limit it to listing, creating and deleting the backups (or snapshots, per the profile) and to
reading volumes, on the block storage API only; it carries one role and cannot create other
credentials (`unrestricted: false`). Keystone generates its secret, which Pulumi keeps encrypted
in the state (a secret output). Cinder backs encrypted volumes up as they are stored (ciphertext,
the key cloned in Barbican) and keeps them in the region's backup service.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

# Keystone access rules: `*` is one path segment (the project id), `**` any rest.
RULES = {
    "cinder-backup": [
        ("GET", "/v3/*/volumes/*"),
        ("GET", "/v3/*/backups/detail"),
        ("GET", "/v3/*/backups/*"),
        ("POST", "/v3/*/backups"),
        ("DELETE", "/v3/*/backups/*"),
    ],
    "snapshot": [
        ("GET", "/v3/*/volumes/*"),
        ("GET", "/v3/*/snapshots/detail"),
        ("GET", "/v3/*/snapshots/*"),
        ("POST", "/v3/*/snapshots"),
        ("DELETE", "/v3/*/snapshots/*"),
    ],
}


@dataclass(frozen=True, kw_only=True)
class BackupCredentialArgs:
    stack: str
    kind: str  # cinder-backup or snapshot (the profile's backups.kind)
    service_type: str  # the block storage service type of the catalog
    role: str


class BackupCredential(pulumi.ComponentResource):
    credential_id: pulumi.Output[str]
    secret: pulumi.Output[str]  # secret output: encrypted in the state, never in clear

    def __init__(
        self, name: str, args: BackupCredentialArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hdh:backups:BackupCredential", name, None, opts)
        cred = openstack.identity.ApplicationCredential(
            f"{name}-credential",
            name=f"hdh-{args.stack}-backup",
            description=f"hdh {args.stack}: volume {args.kind} job (services tier), rules only",
            roles=[args.role],
            unrestricted=False,
            access_rules=[
                {"service": args.service_type, "method": method, "path": path}
                for method, path in RULES[args.kind]
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.credential_id = cred.id
        self.secret = pulumi.Output.secret(cred.secret)
        self.register_outputs({"credential_id": cred.id})
