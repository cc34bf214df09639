"""`hdh backup`: run the volume backup job now, or the restore drill of a backed-up volume."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SECRET_ENV = "HDH_BACKUP_CREDENTIAL_SECRET"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "backup",
        help="volume backups: run the job now, restore drill",
        description="Backups of the data tier's and the bubbles' volumes (docs/services.md). The "
        "inventory is the stack's outputs (`pulumi stack output --json`, or `-` for standard "
        "input). Exit 0: done and verified; 1: a backup or a check failed; 2: bad input.",
    )
    bsub = p.add_subparsers(dest="backup_command", required=True, metavar="SUBCOMMAND")
    run_p = bsub.add_parser(
        "run",
        help="back every volume up now with the job's credential, then prune",
        description="What the services host's timer runs, from here: the job's own restricted "
        f"credential (its secret from the outputs' backupCredentialSecret or ${SECRET_ENV}).",
    )
    drill = bsub.add_parser(
        "drill",
        help="restore the newest backup of a volume into a new volume and verify it",
        description="Restore with your credentials (OS_* or clouds.yaml), check size, encrypted "
        "type and status, read the content back (SHA-256) and compare it when told what to "
        "expect; the restored volume is deleted afterwards unless --keep.",
    )
    for q in (run_p, drill):
        q.add_argument("--inventory", required=True, help="stack outputs (JSON/YAML) or -")
        q.add_argument("--json", type=Path, help="write the result as JSON here")
    drill.add_argument("--volume", help="volume name (default: the first bubble's)")
    drill.add_argument("--expect-sha256", help="the content the restore must have (hex digest)")
    drill.add_argument("--read", action="store_true", help="read the content back and hash it")
    drill.add_argument("--keep", action="store_true", help="keep the restored volume")
    p.set_defaults(run=run)


def load(source: str) -> tuple[dict[str, Any], str | None]:
    """(inventory, the job credential's secret if present) from stack outputs."""
    import yaml

    from ground.errors import InputError

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        doc = (
            json.loads(text) if source == "-" or source.endswith(".json") else yaml.safe_load(text)
        )
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{source}: not valid JSON/YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{source}: expected the stack outputs (a mapping)")
    secret = doc.get("backupCredentialSecret")
    inventory = doc.get("inventory", doc)
    if not isinstance(inventory, dict):
        raise InputError(f"{source}: inventory: a mapping")
    if not isinstance(secret, str) or secret in ("", "[secret]"):
        secret = os.environ.get(SECRET_ENV) or None
    return inventory, secret


def run(args: argparse.Namespace) -> int:
    from ground.errors import InputError
    from hardening import backupjob
    from hdh import backup

    inventory, secret = load(args.inventory)
    section = backup.backups_section(inventory, args.inventory)
    stack = str(inventory.get("stack") or "")
    if not stack:
        raise InputError(f"{args.inventory}: no stack name in the inventory")
    if args.backup_command == "run":
        if not secret:
            raise InputError(
                f"no secret for the backup credential: `pulumi stack output --json --show-secrets "
                f"| hdh backup run --inventory -`, or ${SECRET_ENV}"
            )
        config = {**section, "stack": stack, "credentialSecret": secret}
        rc = backupjob.Job(backupjob.connect(config), config).run()
        if args.json:
            args.json.write_text(json.dumps({"rc": rc}) + "\n")
        return rc
    if args.expect_sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", args.expect_sha256):
        raise InputError("--expect-sha256: a SHA-256 digest is 64 hexadecimal digits")
    volume = backup.pick_volume(section, args.volume)
    report = backup.Drill(backup.connect(section), section, stack).run(
        volume, expect_sha256=args.expect_sha256, read=args.read, keep=args.keep
    )
    for check, ok in report.checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {check}")
    print(
        f"{report.volume}: {report.backup} restored as {report.restored_id}"
        + (f", sha256 {report.sha256}" if report.sha256 else "")
        + f" ({report.seconds:.0f} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=1) + "\n")
    return 0 if report.ok else 1
