"""`hdh harden`: apply (or preview) the ANSSI BP-028 hardening to an inventory's hosts."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "harden",
        help="harden hosts after ANSSI BP-028 (pyinfra)",
        description="Harden the hosts of an inventory (the stack's `inventory` output) after "
        "ANSSI BP-028 v2.0. Exit 0: done, 1: a host failed, 2: bad input.",
    )
    p.add_argument(
        "--inventory",
        required=True,
        type=Path,
        help="stack outputs (`pulumi stack output --json`) or their `inventory` dict, JSON/YAML",
    )
    p.add_argument("--role", help="only the hosts of this role (bastion, k8s-worker, ...)")
    p.add_argument(
        "--check", action="store_true", help="connect and list what would change, change nothing"
    )
    p.add_argument("--areas", help="comma-separated areas (default: all), e.g. kernel,audit")
    p.add_argument(
        "--ssh-user",
        help="log in as this user (default: the inventory's user, from hdh:deployUser)",
    )
    p.add_argument("--ssh-key", help="private key of the deploy user")
    p.add_argument("--known-hosts", help="known_hosts file to check host keys against")
    p.add_argument(
        "--host-key-check",
        choices=("yes", "accept-new", "no"),
        default="accept-new",
        help="StrictHostKeyChecking (default accept-new; `no` only for throwaway test hosts)",
    )
    p.add_argument(
        "--log-remote",
        metavar="HOST:PORT",
        help="log host every host forwards to (R71; 6514 for syslog over TLS)",
    )
    p.add_argument(
        "--log-remote-ca",
        type=Path,
        metavar="PEM",
        help="CA certificate of the log host: forwarding over TLS (required at enhanced level)",
    )
    p.add_argument(
        "--log-remote-name", help="name in the log host's certificate (default: its HOST)"
    )
    p.add_argument(
        "--pki-dir",
        type=Path,
        help="the platform CA of the services tier (default: $HDH_CACHE/pki/<stack>); its key is "
        "encrypted with $HDH_PKI_PASSPHRASE",
    )
    p.add_argument(
        "--publish-drift",
        action="store_true",
        help="with --check: write what would change, per host, as metrics on the services hosts "
        "(the HardeningDrift alert); nothing else is changed",
    )
    p.add_argument("--parallel", type=int, default=10, help="hosts hardened at once")
    p.add_argument("--json", type=Path, help="write the per-host results as JSON here")
    p.set_defaults(run=run)
    return p


def log_data(args: argparse.Namespace) -> dict[str, str]:
    """Host data for R71 forwarding from the --log-* options, checked before any connection."""
    from ground.errors import InputError
    from hardening.logs import parse_remote, read_ca

    out: dict[str, str] = {}
    if args.log_remote:
        try:
            parse_remote(args.log_remote)
        except ValueError as exc:
            raise InputError(f"--log-remote: {exc}") from None
        out["log_remote"] = args.log_remote
    elif args.log_remote_ca or args.log_remote_name:
        raise InputError("--log-remote-ca/--log-remote-name: give --log-remote HOST:PORT too")
    if args.log_remote_ca:
        try:
            read_ca(args.log_remote_ca)
        except ValueError as exc:
            raise InputError(f"--log-remote-ca: {exc}") from None
        out["log_remote_ca"] = str(args.log_remote_ca.resolve())
    if args.log_remote_name:
        out["log_remote_name"] = args.log_remote_name
    return out


def pki_data(doc: dict[str, Any], pki_dir: Path | None) -> dict[str, str]:
    """Host data of the platform CA when the inventory has a services tier: made once, its key
    encrypted with $HDH_PKI_PASSPHRASE, unlocked here (a wrong passphrase stops before any host)."""
    from hardening import pki

    section = doc.get("services")
    if not section:
        return {}
    stack = str(section.get("stack") or doc.get("stack") or "platform")
    directory = (pki_dir or pki.default_dir(stack)).resolve()
    return {"pki_dir": str(directory), "platform_ca_pem": pki.ensure_ca(directory, stack)}


def run(args: argparse.Namespace) -> int:
    # Imported here so that `hdh --help` stays fast and this module has no import side effects.
    from ground.errors import InputError
    from hardening import tier
    from hardening.inventory import build, load_outputs, quoted_path
    from hardening.run import harden_hosts
    from hdh.output import check_private_key, check_writable, write

    tier.validate_all()  # the ANSSI data and the services tier's
    # Every input checked before anything is written or any host contacted.
    doc = load_outputs(args.inventory)
    check_private_key(args.ssh_key)
    check_writable(args.json, "--json")
    if args.parallel < 1:
        raise InputError("--parallel: at least 1")
    if args.publish_drift and not (args.check and doc.get("services")):
        raise InputError("--publish-drift: needs --check and an inventory with a services tier")
    extra: dict[str, Any] = {"ssh_strict_host_key_checking": args.host_key_check}
    if args.known_hosts:
        quoted_path(args.known_hosts)
        extra["ssh_known_hosts_file"] = args.known_hosts
    extra |= log_data(args)
    extra |= pki_data(doc, args.pki_dir)
    backups = doc.get("backups")
    if isinstance(backups, dict) and not backups.get("credentialSecret"):
        import os

        secret = os.environ.get("HDH_BACKUP_CREDENTIAL_SECRET")
        if secret:
            backups["credentialSecret"] = secret
    areas = [a.strip() for a in args.areas.split(",")] if args.areas else None
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hdh-harden-") as tmp:
        hosts = build(doc, Path(tmp), args.ssh_user, args.ssh_key, args.role, extra)
        if not hosts:
            print(f"no host with role {args.role!r} in {args.inventory}", file=sys.stderr)
            return 2
        mode = "checking" if args.check else "hardening"
        print(f"== {mode} {len(hosts)} host(s)", file=sys.stderr)
        results = harden_hosts(hosts, areas=areas, check=args.check, parallel=args.parallel)
        if args.publish_drift:
            results += _publish_drift(hosts, results)
    verb = "would change" if args.check else "changed"
    for r in results:
        status = f"ERROR {r.error}" if r.error else f"{len(r.changed)} {verb}"
        print(f"{r.name}\t{r.role}\t{r.kind}\t{r.operations} operations\t{status}")
        for name in r.changed:
            print(f"  {verb}: {name.rsplit(' | ', 1)[-1]}")
    if args.json:
        write(args.json, json.dumps([r.as_dict() for r in results], indent=1) + "\n", "--json")
    failed = [r for r in results if r.error]
    print(
        f"== {len(results) - len(failed)} ok, {len(failed)} failed "
        f"({time.monotonic() - start:.1f} s)",
        file=sys.stderr,
    )
    return 1 if failed else 0


def _publish_drift(hosts: list[Any], results: list[Any]) -> list[Any]:
    """Write the re-check's results on the services hosts; their own results, named so."""
    from hardening import drift, tier
    from hardening.run import run_deploy

    content = drift.metrics(results)
    targets = [
        (name, {**hdata, "hdh_drift_metrics": content})
        for name, hdata in hosts
        if hdata.get("hdh_role") == tier.SERVICES_ROLE
    ]
    published = run_deploy(targets, drift.publish)
    for r in published:
        r.name = f"{r.name} (drift published)"
    return published
