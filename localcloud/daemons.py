"""The local cloud's daemons: their command lines, and starting/stopping exactly those PIDs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from localcloud.compute import DEFAULT_MODE, LIBVIRT_SOCKET, SYS_PATH, emulator_dir
from localcloud.confs import compute_hosts
from localcloud.paths import Layout, LocalCloudError
from testbed.proc import alive, proc_start_time

log = logging.getLogger(__name__)

PY = "/usr/bin/python3"
# What the agents spawn and what may outlive its group (dnsmasq daemonizes).
# libvirt starts QEMU in a session of its own: guests are found the same way (their kernel and
# config drive are files of our state directory).
STRAY_NAMES = frozenset(
    {"dnsmasq", "privsep-helper", "haproxy", "keepalived", "radvd", "neutron-keepali", "sudo"}
    | {"qemu-system-x86"}
)
# nova-compute from python3-nova's entry point: the nova-compute package would pull a hypervisor
# flavour and service units; the libvirt driver needs only python3-libvirt and libvirt itself.
NOVA_COMPUTE = "import sys; from nova.cmd.compute import main; sys.argv[0] = 'nova-compute'; main()"


@dataclass(frozen=True)
class Daemon:
    name: str
    argv: list[str]
    port: int | None = None  # TCP port on 127.0.0.1 that answers once it is ready
    env: dict[str, str] = field(default_factory=dict)
    socket: Path | None = None  # or a UNIX socket that accepts connections once it is ready


def _uwsgi(name: str, port: int, script: str, env: dict[str, str], threads: int = 4) -> Daemon:
    # --http (not --http-socket) with keep-alive: see ../shared/local-cloud.md (Keystone resets).
    argv = [
        *("uwsgi", "--plugins", "http,python3", "--http", f"127.0.0.1:{port}", "--http-keepalive"),
        *("--die-on-term", "--master", "--processes", "1", "--threads", str(threads)),
        "--need-app",
        *("--buffer-size", "65535", "--wsgi-file", script, "--procname-prefix", f"hdh-lc-{name} "),
    ]
    return Daemon(name, argv, port, env)


def daemons(layout: Layout, computes: int, mode: str = DEFAULT_MODE) -> list[Daemon]:
    """Every daemon in start order (infrastructure, then the APIs, then workers and agents)."""
    etc, data, run = layout.etc, layout.data, layout.run
    bin_dir = layout.root / "bin"
    n_conf = ["--config-file", str(etc / "nova" / "nova.conf")]
    q_conf = ["--config-file", str(etc / "neutron" / "neutron.conf")]
    c_conf = ["--config-file", str(etc / "cinder" / "cinder.conf")]
    rabbit_env = {
        "HOME": str(data / "rabbitmq"),
        "RABBITMQ_NODENAME": "hdh-lc@localhost",
        "RABBITMQ_CONFIG_FILE": str(etc / "rabbitmq" / "rabbitmq"),
        "RABBITMQ_CONF_ENV_FILE": str(etc / "rabbitmq" / "rabbitmq-env.conf"),
        "RABBITMQ_MNESIA_BASE": str(data / "rabbitmq" / "mnesia"),
        "RABBITMQ_LOG_BASE": str(layout.log),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(etc / "rabbitmq" / "enabled_plugins"),
        "RABBITMQ_DIST_PORT": "25672",
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    out = [
        Daemon("epmd", ["epmd", "-address", "127.0.0.1"], 4369),
        Daemon(
            "mariadb",
            [
                *("/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data / 'mysql'}"),
                *(f"--socket={run / 'mysqld.sock'}", "--bind-address=127.0.0.1", "--port=3306"),
                *("--user=root", f"--pid-file={run / 'mysqld.pid'}", "--skip-log-bin"),
                *("--innodb-buffer-pool-size=48M", "--max-connections=600"),
                *("--performance-schema=off", "--skip-name-resolve"),
            ],
            3306,
        ),
        Daemon("rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], 5672, rabbit_env),
        _uwsgi(
            "keystone",
            5000,
            "/usr/bin/keystone-wsgi-public",
            {"OS_KEYSTONE_CONFIG_FILES": str(etc / "keystone" / "keystone.conf")},
        ),
        Daemon(
            "glance-api",
            ["glance-api", "--config-file", str(etc / "glance" / "glance-api.conf")],
            9292,
        ),
        _uwsgi(
            "placement",
            8778,
            "/usr/bin/placement-api",
            {"OS_PLACEMENT_CONFIG_DIR": str(etc / "placement")},
        ),
        _uwsgi(
            "nova-api",
            8774,
            "/usr/bin/nova-api-wsgi",
            # The first file is the paste file (nova.api.openstack.wsgi_app).
            {"OS_NOVA_CONFIG_FILES": f"/etc/nova/api-paste.ini;{etc / 'nova' / 'nova.conf'}"},
            # Nova monkey-patches eventlet: with several uwsgi threads an RPC reply lands on a
            # greenlet of another thread ("greenlet.error: cannot switch to a different thread")
            # and the call hangs until the router cuts it (pulumi saw EOF on POST /servers).
            threads=1,
        ),
        # Barbican reads ~/.barbican/barbican.conf before /etc/barbican: HOME points at ours.
        _uwsgi(
            "barbican", 9311, "/usr/bin/barbican-wsgi-api", {"HOME": str(etc / "barbican" / "home")}
        ),
        Daemon(
            "neutron-server",
            ["neutron-server", *q_conf, "--config-file", str(etc / "neutron" / "ml2_conf.ini")],
            9696,
        ),
        Daemon("cinder-api", ["cinder-api", *c_conf], 8776),
    ]
    for kind, port in (("account", 6202), ("container", 6201), ("object", 6200), ("proxy", 8080)):
        conf = str(etc / "swift" / f"{kind}-server.conf")
        out.append(Daemon(f"swift-{kind}", [f"swift-{kind}-server", conf], port))
    out += [
        Daemon("nova-conductor", ["nova-conductor", *n_conf]),
        Daemon("nova-scheduler", ["nova-scheduler", *n_conf]),
        Daemon("cinder-scheduler", ["cinder-scheduler", *c_conf]),
        # Running as root, Cinder calls qemu-img without rootwrap: PATH finds our wrapper first.
        Daemon(
            "cinder-volume", ["cinder-volume", *c_conf], None, {"PATH": f"{bin_dir}:{SYS_PATH}"}
        ),
        Daemon("cinder-backup", ["cinder-backup", *c_conf]),
    ]
    if mode == "real":
        # libvirt's daemons in the foreground (no --daemon): the PID we record is theirs.
        lv = etc / "libvirt"
        out += [
            Daemon("virtlogd", ["virtlogd", "--config", str(lv / "virtlogd.conf")]),
            Daemon(
                "libvirtd",
                ["libvirtd", "--config", str(lv / "libvirtd.conf")],
                env={"PATH": f"{emulator_dir(layout)}:{SYS_PATH}"},
                socket=LIBVIRT_SOCKET,
            ),
        ]
    for i, _host in enumerate(compute_hosts(computes), start=1):
        host_conf = ["--config-file", str(etc / "neutron" / f"host{i}.conf")]
        out.append(
            Daemon(
                f"nova-compute{i}",
                [
                    PY,
                    "-c",
                    NOVA_COMPUTE,
                    *n_conf,
                    "--config-file",
                    str(etc / "nova" / f"compute{i}.conf"),
                ],
            )
        )
        lb = ["--config-file", str(etc / "neutron" / "linuxbridge_agent.ini")]
        out.append(
            Daemon(
                f"neutron-linuxbridge{i}", ["neutron-linuxbridge-agent", *q_conf, *lb, *host_conf]
            )
        )
    host1 = ["--config-file", str(etc / "neutron" / "host1.conf")]
    for agent in ("l3", "dhcp"):
        ini = ["--config-file", str(etc / "neutron" / f"{agent}_agent.ini")]
        out.append(Daemon(f"neutron-{agent}", [f"neutron-{agent}-agent", *q_conf, *ini, *host1]))
    return out


def load_pids(layout: Layout) -> dict[str, dict[str, int | None]]:
    try:
        data: dict[str, dict[str, int | None]] = json.loads(layout.pids_file.read_text())
    except (OSError, ValueError):
        return {}
    return data


def save_pids(layout: Layout, pids: dict[str, dict[str, int | None]]) -> None:
    tmp = layout.pids_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(pids, indent=1))
    tmp.replace(layout.pids_file)


def running(layout: Layout) -> dict[str, int]:
    """{daemon name: pid} of the recorded daemons that are still the processes we started."""
    return {
        name: int(rec["pid"] or 0)
        for name, rec in load_pids(layout).items()
        if rec.get("pid") and alive(int(rec["pid"] or 0), rec.get("start"))
    }


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def socket_open(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(0.5)
        return s.connect_ex(str(path)) == 0


def start(layout: Layout, d: Daemon) -> int:
    """Start one daemon in its own session (its PID is its process group), log to log/<name>.log."""
    if d.port is not None and port_open(d.port):
        raise LocalCloudError(d.name, f"127.0.0.1:{d.port} is already in use by another process")
    logf = open(layout.log / f"{d.name}.log", "ab")  # noqa: SIM115 - handed to the child
    env = {**os.environ, **d.env}
    try:
        proc = subprocess.Popen(
            d.argv,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=str(layout.run),
        )
    except FileNotFoundError as exc:
        raise LocalCloudError(d.name, f"{d.argv[0]} not found (package not installed?)") from exc
    finally:
        logf.close()
    pids = load_pids(layout)
    pids[d.name] = {"pid": proc.pid, "start": proc_start_time(proc.pid)}
    save_pids(layout, pids)
    log.debug("started %s pid %d", d.name, proc.pid)
    return proc.pid


def wait_ready(layout: Layout, d: Daemon, timeout: float = 180.0) -> None:
    """Wait until the daemon's port answers; fail naming its log if it died or timed out."""
    rec = load_pids(layout).get(d.name, {})
    pid, st = int(rec.get("pid") or 0), rec.get("start")
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not alive(pid, st):
            raise LocalCloudError(d.name, f"exited at start; see {layout.log / d.name}.log")
        if d.socket is not None:
            if socket_open(d.socket):
                return
        elif d.port is None or port_open(d.port):
            return
        if time.monotonic() > deadline:
            raise LocalCloudError(d.name, f"not ready after {timeout:.0f} s")
        time.sleep(0.3)


def _group_members(pgid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            out.append(int(p.name))
    return out


def stop_all(layout: Layout, extra: list[int] | None = None) -> int:
    """Stop every recorded daemon (its whole process group), newest first; returns how many."""
    pids = load_pids(layout)
    stopped = 0
    for name in reversed(list(pids)):
        rec = pids[name]
        pid, st = int(rec.get("pid") or 0), rec.get("start")
        if pid and alive(pid, st):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            stopped += 1
    deadline = time.monotonic() + 20
    for name, rec in pids.items():
        pid, st = int(rec.get("pid") or 0), rec.get("start")
        while pid and time.monotonic() < deadline and (alive(pid, st) or _group_members(pid)):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
        if pid and (alive(pid, st) or _group_members(pid)):
            log.warning("%s (pid %d) still running after SIGTERM: SIGKILL its group", name, pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    for pid in extra or []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    save_pids(layout, {})
    return stopped


def strays(layout: Layout) -> list[int]:
    """Processes our agents spawned that left their group (dnsmasq, privsep helpers).

    Found by their command line naming our state directory, so nothing else can match.
    """
    root = str(layout.root)
    me = os.getpid()
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == me:
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        try:
            comm = (p / "comm").read_text().strip()
        except OSError:
            continue
        if comm in STRAY_NAMES and root in cmd:
            out.append(int(p.name))
    return out
