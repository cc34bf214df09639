"""A fleet of testbed containers wired like a deployment: tiers, a bastion, the services tier.

Every container of a fleet sits on one bridge in a namespace of the fleet (`<prefix>-lan`, the
platform's routers), at an address of its tier; the namespace routes between the tier subnets.
A second namespace (`<prefix>-out`) plays the outside world: it serves the testbed's Debian
repository (testbed/repo.py) at REPO_ADDR and another web server at OTHER_ADDR, and only the
admin and services tiers are routed to it (the others get "network unreachable", as behind the
platform's core router, which has no external gateway). Addresses exist only inside these
namespaces. The hosts' apt sources point at the repository (bound read-only, as an image would
name its mirror); `inventory()` gives the stack outputs `hdh harden` takes.

    hosts = fleet.up()        # {label: TestHost}; containers <prefix>-<label>
    doc = fleet.inventory(hosts)
    fleet.down()
"""

from __future__ import annotations

import json
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from testbed import hosts as testbed_hosts
from testbed import repo, state
from testbed.hosts import ensure_image, prefix
from testbed.paths import locked, state_dir
from testbed.proc import TestbedError, ensure_host_tools, run, stop
from testbed.state import Seat, TestHost

log = logging.getLogger(__name__)

BRIDGE = "br0"
TIERS = {
    "admin": "10.249.0.0/24",
    "services": "10.249.1.0/24",
    "data": "10.249.16.0/24",
    "bubble": "10.249.64.0/24",
}
EDGE_TIERS = ("admin", "services")  # routed to the outside, like the platform's edge router
OUTSIDE, OUTSIDE_GW = "10.249.200.0/24", "10.249.200.1"
REPO_ADDR = "10.249.200.10"  # the repository: on the proxy's allow-list
OTHER_ADDR = "10.249.200.20"  # another web server: not on it
REPO_URL = f"http://{REPO_ADDR}/debian"
# The stack's services ports (Pulumi.yaml defaults).
PORTS = {"proxyPort": 3128, "cachePort": 3142, "logPort": 6514, "metricsPort": 9100}


@dataclass(frozen=True)
class Member:
    label: str  # the container is <prefix>-<label>
    role: str  # its role in the stack's inventory (bastion, services, data, workspace)
    tier: str
    address: str
    bubble: str | None = None


FLEET = (
    Member("bastion", "bastion", "admin", "10.249.0.10"),
    Member("svc0", "services", "services", "10.249.1.10"),
    Member("data0", "data", "data", "10.249.16.10"),
    Member("ws0", "workspace", "bubble", "10.249.64.10", bubble="demo"),
)


def lan_ns() -> str:
    return f"{prefix()}-lan"


def out_ns() -> str:
    return f"{prefix()}-out"


def fleet_dir() -> Path:
    return state_dir() / "fleet"


def _gateway(tier: str) -> str:
    return TIERS[tier].rsplit(".", 1)[0] + ".1"


def up(members: tuple[Member, ...] = FLEET) -> dict[str, TestHost]:
    """Bring up the fleet's networks, servers and containers; {label: TestHost}. Idempotent
    only as a whole: a fleet that is partly up is taken down first."""
    ensure_host_tools()
    image = ensure_image()
    repository = repo.ensure_repo(image)
    with locked(state_dir() / "lock"):
        hosts = state.load()
        if hosts or _network_state():
            log.warning("fleet %s: leftovers of an earlier run; taking them down", prefix())
    if hosts or _network_state():
        down()
    with locked(state_dir() / "lock"):
        hosts = state.load()
        _network(repository)
        started = []
        try:
            for m in members:
                seat = _seat(m, repository)
                name = f"{prefix()}-{m.label}"
                started.append(testbed_hosts._start_container(image, name, hosts, seat))
        finally:
            state.save(hosts)
        with ThreadPoolExecutor(max_workers=len(started)) as pool:
            list(pool.map(testbed_hosts._wait_ssh, started))
        state.save(hosts)
        return {m.label: hosts[f"{prefix()}-{m.label}"].test_host() for m in members}


def down() -> list[str]:
    """The fleet's containers (testbed down), then its servers and namespaces."""
    return testbed_hosts.down()


def _network_state() -> dict | None:
    path = fleet_dir() / "network.json"
    return json.loads(path.read_text()) if path.exists() else None


def teardown_network() -> None:
    """Stop the fleet's servers and remove its namespaces (called by testbed.hosts.down)."""
    doc = _network_state()
    if doc is None:
        return
    for p in doc.get("procs", []):
        stop(p["pid"], p["start"], grace=5.0)
    for ns in doc.get("namespaces", []):
        if Path(f"/run/netns/{ns}").exists():
            run(["ip", "netns", "delete", ns], host=ns, step="remove namespace")
    for path in fleet_dir().glob("*"):
        if path.is_file() or path.is_symlink():
            path.unlink()
    (fleet_dir() / "network.json").unlink(missing_ok=True)
    log.info("fleet %s: network down", prefix())


def _save_network(doc: dict) -> None:
    fleet_dir().mkdir(parents=True, exist_ok=True)
    (fleet_dir() / "network.json").write_text(json.dumps(doc, indent=1))


def _network(repository: Path) -> None:
    lan, out = lan_ns(), out_ns()
    doc: dict = {"namespaces": [], "procs": []}
    _save_network(doc)
    for ns in (lan, out):
        run(["ip", "netns", "add", ns], host=ns, step="network namespace")
        doc["namespaces"].append(ns)
        _save_network(doc)
        run(["ip", "-n", ns, "link", "set", "lo", "up"], host=ns, step="network namespace")
    # A router, but no ICMP redirects: every tier shares the one bridge, so a packet from one
    # tier to another leaves by the interface it came in on, and the router would tell the
    # sender to reach the other host directly. A host that took that advice before its own
    # hardening refused redirects then ARPs across subnets, which a hardened host does not
    # answer (arp_ignore=2, R12): "No route to host". A platform router has an interface per
    # subnet and never redirects. `all` alone does not stop an interface (either one set
    # sends), so the interfaces made next inherit `default`.
    sysctls = [
        "net.ipv4.ip_forward=1",
        "net.ipv4.conf.all.send_redirects=0",
        "net.ipv4.conf.default.send_redirects=0",
    ]
    run(["ip", "netns", "exec", lan, "sysctl", "-qw", *sysctls], host=lan, step="routing")
    ip = ["ip", "-n", lan]
    run([*ip, "link", "add", BRIDGE, "type", "bridge"], host=lan, step="bridge")
    run([*ip, "link", "set", BRIDGE, "up"], host=lan, step="bridge")
    for tier in TIERS:
        gw = f"{_gateway(tier)}/{TIERS[tier].split('/')[1]}"
        run([*ip, "addr", "add", gw, "dev", BRIDGE], host=lan, step="tier gateway")
    run([*ip, "link", "add", "out0", "type", "veth", "peer", "name", "eth0", "netns", out],
        host=lan, step="outside link")  # fmt: skip
    run([*ip, "addr", "add", f"{OUTSIDE_GW}/24", "dev", "out0"], host=lan, step="outside link")
    run([*ip, "link", "set", "out0", "up"], host=lan, step="outside link")
    for addr in (REPO_ADDR, OTHER_ADDR):
        run(["ip", "-n", out, "addr", "add", f"{addr}/24", "dev", "eth0"], host=out, step="outside")
    run(["ip", "-n", out, "link", "set", "eth0", "up"], host=out, step="outside")
    for tier in EDGE_TIERS:  # the way back: the outside knows the edge tiers only
        run(["ip", "-n", out, "route", "add", TIERS[tier], "via", OUTSIDE_GW],
            host=out, step="outside route")  # fmt: skip
    for tier in TIERS:  # the core router has no way out: "network unreachable"
        if tier not in EDGE_TIERS:
            run(["ip", "-n", lan, "rule", "add", "from", TIERS[tier], "to", OUTSIDE,
                 "unreachable"], host=lan, step="core router")  # fmt: skip
    www = fleet_dir() / "www"
    other = fleet_dir() / "other"
    for d in (www, other):
        d.mkdir(parents=True, exist_ok=True)
    (www / "debian").unlink(missing_ok=True)
    (www / "debian").symlink_to(repository)
    (other / "index.html").write_text("not on the allow-list\n")
    for addr, directory in ((REPO_ADDR, www), (OTHER_ADDR, other)):
        logf = fleet_dir() / f"http-{addr}.log"
        argv = ["ip", "netns", "exec", out, sys.executable, "-m", "http.server", "80",
                "--bind", addr, "--directory", str(directory)]  # fmt: skip
        proc = testbed_hosts._spawn(f"http {addr}", argv, logf)
        doc["procs"].append(asdict(proc))
        _save_network(doc)
    log.info("fleet %s: tiers on %s, outside %s (repository %s)", prefix(), lan, out, REPO_URL)


def _seat(m: Member, repository: Path) -> Seat:
    if m.tier not in TIERS:
        raise TestbedError(m.label, "fleet", f"unknown tier {m.tier!r} (known: {list(TIERS)})")
    d = fleet_dir()
    network = d / f"{m.label}.network"
    network.write_text(
        "[Match]\nName=host0\nVirtualization=container\n[Network]\n"
        f"Address={m.address}/{TIERS[m.tier].split('/')[1]}\nGateway={_gateway(m.tier)}\n"
        "LinkLocalAddressing=no\n"
    )
    sources = d / "sources.list"
    sources.write_text(repo.sources_line(REPO_URL))
    return Seat(
        netns=lan_ns(),
        bridge=BRIDGE,
        address=m.address,
        binds=(
            (str(network), "/etc/systemd/network/10-hdh-container.network"),
            (str(sources), "/etc/apt/sources.list"),
            (str(repository / repo.KEYRING), f"/etc/apt/keyrings/{repo.KEYRING}"),
        ),
    )


def inventory(hosts: dict[str, TestHost], members: tuple[Member, ...] = FLEET) -> dict:
    """The fleet as a stack's outputs (`pulumi stack output --json`): the bastion reached on its
    forwarded port, every other host through it at its tier address, the services section."""
    bastion = next(m for m in members if m.role == "bastion")
    clients = [TIERS[t] for t in TIERS if t != "services"]
    return {
        "inventory": {
            "stack": prefix(),
            "bastion": {"address": "127.0.0.1", "port": hosts[bastion.label].port},
            "hosts": [
                {
                    "name": hosts[m.label].name,
                    "address": m.address,
                    "role": m.role,
                    "tier": m.tier,
                    "bubble": m.bubble,
                }
                for m in members
            ],
            "services": {**PORTS, "clientNetworks": clients, "egressAllow": [REPO_ADDR]},
            # No cloud here: the job is installed and scheduled, never run against one.
            "backups": {
                "kind": "cinder-backup",
                "schedule": "*-*-* 02:30:00",
                "keepDaily": 7,
                "keepWeekly": 4,
                "incremental": True,
                "region": "RegionOne",
                "authUrl": "http://192.0.2.1:5000/v3",
                "applicationId": "testbed-fleet-credential",
                "volumes": [
                    {
                        "name": "bubble-demo",
                        "tier": "bubble",
                        "bubble": "demo",
                        "id": "00000000-0000-4000-8000-000000000001",
                    }
                ],
            },
        },
        "backupCredentialSecret": "testbed-fleet-not-a-real-secret",
    }
