"""`hdh testbed`: build the image, bring hosts up or down, scan one, report, run the log sink."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ground.errors import HdhError, InputError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "testbed",
        help="Debian 12 test hosts: containers and a VM (test only)",
        description="Real Debian 12 hosts on this machine (systemd-nspawn containers, one QEMU "
        "VM) reached over SSH, for hardening tests (docs/testbed.md). Root only.",
    )
    tsub = p.add_subparsers(dest="testbed_command", required=True, metavar="SUBCOMMAND")
    up = tsub.add_parser("up", help="bring up containers c1..cN and the VM (idempotent)")
    up.add_argument("--containers", type=_count, default=1, metavar="N")
    up.add_argument("--vm", action="store_true", help="also boot the QEMU VM (~1 min)")
    tsub.add_parser("down", help="stop every host the testbed started and remove its traces")
    tsub.add_parser("status", help="hosts in the state and whether they run")
    tsub.add_parser("image", help="build (or find cached) the image and print its path")
    sc = tsub.add_parser("scan", help="OpenSCAP scan of one host that is up")
    sc.add_argument("host", help="host name, e.g. hdh-tb-c1 or hdh-tb-vm")
    sc.add_argument(
        "--profile",
        default="anssi_bp28_intermediary",
        help="SSG profile; add _hdh for our tailored one (hardening/data/scap_tailoring.yaml)",
    )
    rp = tsub.add_parser(
        "report",
        help="OpenSCAP report: before / ours / SSG's remediation, failures explained",
        description="Write report.json and report.md to --out and print the Markdown. Exit 0 "
        "when every failure on our host is explained, 1 when some are not, 2 on bad input.",
    )
    rp.add_argument("--before", type=Path, help="ARF/XCCDF results before hardening")
    rp.add_argument("--ours", type=Path, required=True, help="results after our hardening")
    rp.add_argument("--ssg", type=Path, help="results after SSG's remediation (twin host)")
    rp.add_argument("--kind", choices=("container", "vm"), help="default: from the results")
    rp.add_argument("--role", default="", help="hardening role of our host (for the report)")
    rp.add_argument("--out", type=Path, default=Path("build/scap"))
    ls = tsub.add_parser("logsink", help="the TLS syslog collector (started by `up`)")
    ls.add_argument("--listen", required=True, help="ADDRESS:PORT")
    ls.add_argument("--out", required=True, type=Path, help="file the messages are appended to")
    p.set_defaults(run=run)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 0 and 64, not {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from testbed import hosts, image, scap

    cmd = args.testbed_command
    if cmd == "up":
        _print_hosts(hosts.up(args.containers, args.vm))
    elif cmd == "down":
        names = hosts.down()
        print(f"down: {', '.join(names) if names else 'nothing was up'}")
    elif cmd == "status":
        rows = hosts.status()
        for h, running in rows:
            print(f"{h.name:12} {h.kind:9} 127.0.0.1:{h.port:<6} {'up' if running else 'DEAD'}")
        if rows:
            _print_files()
    elif cmd == "image":
        print(image.ensure_image().path)
    elif cmd == "scan":
        target = next((h for h, _ in hosts.status() if h.name == args.host), None)
        if target is None:
            raise HdhError(f"{args.host}: scan: no such host up (see `hdh testbed status`)")
        result = scap.scan(target, args.profile)
        print(result.summary())
        print(f"results: {result.arf}")
    elif cmd == "report":
        return _report(args)
    elif cmd == "logsink":
        from testbed import logsink

        try:
            logsink.run(args.listen, args.out)
        except ValueError as exc:
            raise InputError(f"--listen: {exc}") from None
    return 0


def _report(args: argparse.Namespace) -> int:
    from testbed import scap, scap_report

    ds = scap.ensure_datastream()
    before = scap.parse_results(args.before, datastream=ds) if args.before else None
    ours = scap.parse_results(args.ours, datastream=ds)
    ssg = scap.parse_results(args.ssg, datastream=ds) if args.ssg else None
    kind = args.kind or ("vm" if ours.host.endswith("-vm") else "container")
    doc = scap_report.compare(before, ours, ssg, kind, args.role, datastream=ds)
    scap_report.write(doc, args.out)
    sys.stdout.write(scap_report.markdown(doc))
    return 1 if doc["unexplained"] else 0


def _print_hosts(up: list[Any]) -> None:
    for h in up:
        print(f"{h.name:12} {h.kind:9} ssh -p {h.port} {h.user}@{h.host} -i {h.key_path}")
    _print_files()


def _print_files() -> None:
    from testbed import state

    print(f"inventory:  {state.inventory_path()}")
    print(f"ssh config: {state.ssh_config_path()}")
