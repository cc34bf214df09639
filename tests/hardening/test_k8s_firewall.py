"""The k8s nodes' host firewalls, loaded for real: exactly the needed ports open between nodes.

Network namespaces of our own stand for the hosts (two control planes, a worker, the bastion, a
bubble workspace, a data host, an Octavia amphora on the processing subnet) on one bridge, with
addresses of the ovh-sbg stack's tiers. Each node's namespace gets the nftables ruleset the
hardening deploy writes for its role (sources from the inventory, as `hdh harden` resolves them),
listeners on every probed port, and every other host probes every port. Needs root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.config import load_stack
from components.k8s_cluster import api_client_cidrs
from components.k8s_facts import node_ports
from ground.paths import ROOT
from hardening import data
from hardening.firewall import ruleset
from hardening.inventory import k8s_sources

pytestmark = pytest.mark.k8s
PREFIX = f"hdh-k8sfw{os.getpid() % 10000}"
HOSTS = {  # name -> (address/prefix, platform role or None)
    "cp0": ("10.30.32.10/19", "k8s-control"),
    "cp1": ("10.30.32.11/19", "k8s-control"),
    "w0": ("10.30.32.20/19", "k8s-worker"),
    "lb": ("10.30.32.250/19", None),  # an amphora: its health checks come from the subnet
    "bastion": ("10.30.0.5/24", None),
    "bubble": ("10.68.0.5/24", None),
    "data": ("10.30.16.5/20", None),
}
NODES = [h for h, (_, role) in HOSTS.items() if role]
TCP = [22, 179, 2379, 2380, 6443, 10250, 10256, 10257, 10259, 30080]
UDP = [4789, 8472]

LISTENER = textwrap.dedent(
    """
    import socket, sys, threading
    tcp, udp, out = [int(p) for p in sys.argv[1].split(",")], sys.argv[2].split(","), sys.argv[3]
    lock = threading.Lock()
    def seen(proto, port, src):
        with lock, open(out, "a") as f:
            f.write(f"{proto} {port} {src}\\n")
    keep = []  # listening sockets must outlive the loop
    for p in tcp:
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", p)); s.listen(64); keep.append(s)
    def udp_loop(p):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", p))
        while True:
            _, (src, _) = s.recvfrom(64); seen("udp", p, src)
    def ipip_loop():
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
        while True:
            pkt, (src, _) = s.recvfrom(2048); seen("ipip", 0, src)
    for p in udp:
        threading.Thread(target=udp_loop, args=(int(p),), daemon=True).start()
    threading.Thread(target=ipip_loop, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
    """
)
PROBE = textwrap.dedent(
    """
    import json, socket, sys
    from concurrent.futures import ThreadPoolExecutor
    targets, tcp, udp = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
    def connect(a):
        s = socket.socket(); s.settimeout(1.5)
        try:
            s.connect(a); return True
        except OSError:
            return False
        finally:
            s.close()
    jobs = [(t, p) for t in targets for p in tcp]
    with ThreadPoolExecutor(32) as pool:
        res = list(pool.map(lambda j: connect((j[0], j[1])), jobs))
    for t in targets:
        for p in udp:
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"probe", (t, p))
        socket.socket(socket.AF_INET, socket.SOCK_RAW, 4).sendto(b"\\x45" + b"\\0" * 19, (t, 0))
    print(json.dumps([[t, p] for (t, p), ok in zip(jobs, res) if ok]))
    """
)


def sh(*cmd: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr}")
    return done.stdout


def ns(host: str) -> str:
    return f"{PREFIX}-{host}"


def ip_of(host: str) -> str:
    return HOSTS[host][0].split("/")[0]


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("the k8s tier's firewall test needs root (network namespaces)")
    sh(str(ROOT / "scripts" / "k8s-host-deps"))
    work = tmp_path_factory.mktemp("k8sfw")
    made: list[str] = []
    listeners: list[subprocess.Popen[str]] = []
    try:
        hub = ns("hub")
        sh("ip", "netns", "add", hub)
        made.append(hub)
        sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", hub, "link", "set", "br0", "up")
        for i, (host, (addr, _)) in enumerate(HOSTS.items()):
            name = ns(host)
            sh("ip", "netns", "add", name)
            made.append(name)
            sh("ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}",
               "netns", hub)  # fmt: skip
            sh("ip", "-n", hub, "link", "set", f"p{i}", "master", "br0", "up")
            sh("ip", "-n", name, "addr", "add", addr, "dev", "eth0")
            sh("ip", "-n", name, "link", "set", "eth0", "up")
            sh("ip", "-n", name, "link", "set", "lo", "up")
            # Every tier on the one wire: a route to all of them through eth0.
            sh("ip", "-n", name, "route", "add", "10.0.0.0/8", "dev", "eth0")
        inventory = {
            "hosts": [
                {"name": h, "address": ip_of(h), "role": role}
                for h, (_, role) in HOSTS.items()
                if role
            ],
            "kubernetes": {"apiClients": [str(c) for c in api_client_cidrs(load_stack("ovh-sbg"))]},
        }
        sources = k8s_sources(inventory)
        (work / "sources.json").write_text(json.dumps(sources))
        for host in NODES:
            role = HOSTS[host][1]
            rules = work / f"{host}.nft"
            rules.write_text(ruleset(data.settings("firewall", role), 22, sources))
            sh("ip", "netns", "exec", ns(host), "nft", "-f", str(rules))
            log = work / f"{host}.seen"
            log.touch()
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns(host), sys.executable, "-c", LISTENER,
                 ",".join(map(str, TCP)), ",".join(map(str, UDP)), str(log)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            listeners.append(proc)
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield work
    finally:
        for proc in listeners:
            proc.kill()
            proc.wait()
        for name in reversed(made):
            subprocess.run(["ip", "netns", "del", name], check=False)


def observed(work: Path) -> set[tuple[str, str, str, int]]:
    """(source, destination, proto, port) that got through, from every other host."""
    targets = [ip_of(h) for h in NODES]
    by_ip = {ip_of(h): h for h in HOSTS}
    got: set[tuple[str, str, str, int]] = set()
    for src in HOSTS:
        out = sh("ip", "netns", "exec", ns(src), sys.executable, "-c", PROBE,
                 json.dumps([t for t in targets if t != ip_of(src)]), json.dumps(TCP),
                 json.dumps(UDP))  # fmt: skip
        got |= {(src, by_ip[t], "tcp", p) for t, p in json.loads(out)}
    time.sleep(1)  # datagrams in flight
    for dst in NODES:
        for line in (work / f"{dst}.seen").read_text().splitlines():
            proto, port, src_ip = line.split()
            got.add((by_ip[src_ip], dst, proto, int(port)))
    return got


def expected() -> set[tuple[str, str, str, int]]:
    """From the port table (components/kubernetes.yaml): each port to its sources, SSH to all."""
    members = {"control-plane": [h for h in NODES if HOSTS[h][1] == "k8s-control"], "nodes": NODES}
    clients = [h for h in HOSTS if h not in ("data",)]  # admin tier, processing, bubbles
    want: set[tuple[str, str, str, int]] = set()
    for dst in NODES:
        for src in HOSTS:
            if src != dst:
                want.add((src, dst, "tcp", 22))  # sshd: the security groups narrow it
        for rule in node_ports(HOSTS[dst][1]):  # type: ignore[arg-type]
            srcs = clients if rule.from_ == "api-clients" else members[rule.from_]
            for src in srcs:
                if src == dst:
                    continue
                for port in rule.ports or [0]:
                    want.add((src, dst, rule.proto, port))
    return want


def test_exactly_the_needed_ports_are_open_between_hosts(network: Path) -> None:
    got, want = observed(network), expected()
    assert got - want == set(), f"open beyond the table: {sorted(got - want)}"
    assert want - got == set(), f"needed but closed: {sorted(want - got)}"
    # Spot checks in words: etcd only between control planes, the API from the bubbles.
    assert ("cp1", "cp0", "tcp", 2379) in got and ("w0", "cp0", "tcp", 2379) not in got
    assert ("bubble", "cp0", "tcp", 6443) in got and ("data", "cp0", "tcp", 6443) not in got
    assert ("lb", "cp1", "tcp", 6443) in got and ("bastion", "w0", "tcp", 10250) not in got
