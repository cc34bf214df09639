"""Backups of the data tier's and the bubbles' volumes: the least-privileged credential of the job.

The backup job (hardening/backupjob.py, run by a timer on the first services host) uses an
application credential that can do exactly what it needs and nothing else: Keystone access rules
limit it to listing, creating and deleting the backups (or snapshots, per the profile) and to
reading volumes on the block storage API, plus, for Cinder backups, the key manager calls Cinder
makes in the job's name to clone an encrypted volume's key; it carries one role and cannot
create other credentials (`unrestricted: false`). Keystone generates its secret, which Pulumi
keeps encrypted in the state (a secret output). Cinder backs encrypted volumes up as they are
stored (ciphertext, the key cloned in Barbican) and keeps them in the region's backup service.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack

# Keystone access rules: `*` is one path segment (the project id), `**` any rest. BLOCK stands
# for the profile's block storage service type.
BLOCK = "block-storage"
# Cinder clones an encrypted volume's key for its backup with the caller's own token
# (castellan, in the caller's context): without these the backup ends in error. They let the
# job read the project's keys, which is what Cinder needs to clone one; nothing else of Barbican.
KEY_CLONE = [
    ("key-manager", "GET", "/v1/secrets/*"),
    ("key-manager", "GET", "/v1/secrets/*/payload"),
    ("key-manager", "POST", "/v1/secrets"),
    ("key-manager", "POST", "/v1/secrets/"),  # barbicanclient's own spelling (rules match exactly)
    ("key-manager", "DELETE", "/v1/secrets/*"),  # a pruned backup's own copy of the key
]
RULES = {
    "cinder-backup": [
        (BLOCK, "GET", "/v3/*/volumes/*"),
        (BLOCK, "GET", "/v3/*/backups/detail"),
        (BLOCK, "GET", "/v3/*/backups/*"),
        (BLOCK, "POST", "/v3/*/backups"),
        (BLOCK, "DELETE", "/v3/*/backups/*"),
        *KEY_CLONE,
    ],
    "snapshot": [  # a snapshot shares its volume's key: no Barbican call
        (BLOCK, "GET", "/v3/*/volumes/*"),
        (BLOCK, "GET", "/v3/*/snapshots/detail"),
        (BLOCK, "GET", "/v3/*/snapshots/*"),
        (BLOCK, "POST", "/v3/*/snapshots"),
        (BLOCK, "DELETE", "/v3/*/snapshots/*"),
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
                {
                    "service": args.service_type if service == BLOCK else service,
                    "method": method,
                    "path": path,
                }
                for service, method, path in RULES[args.kind]
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.credential_id = cred.id
        self.secret = pulumi.Output.secret(cred.secret)
        self.register_outputs({"credential_id": cred.id})
