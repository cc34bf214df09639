"""Boot testbed hosts: nspawn containers in their own network namespaces, and one QEMU VM."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from testbed import logsink, state
from testbed.image import (
    CONTAINER_ADDR,
    CONTAINER_PEER,
    Image,
    ensure_image,
    image_hash,
    read_packages,
)
from testbed.paths import DEFAULT_NAME, locked, state_dir
from testbed.proc import (
    TestbedError,
    child_pids,
    ensure_host_tools,
    proc_start_time,
    run,
    signal_proc,
    stop,
    wait_gone,
)
from testbed.state import HostState, Proc, Seat, TestHost

log = logging.getLogger(__name__)

CONTAINER_SSH_TIMEOUT = 180.0
VM_SSH_TIMEOUT = 900.0  # ~60 s alone; software emulation slows down a lot beside busy tiers
VM_MEMORY_MIB = 1024


def prefix() -> str:
    """Name prefix of hosts and namespaces (`$HDH_TESTBED_NAME`): two testbeds can coexist."""
    return os.environ.get("HDH_TESTBED_NAME", DEFAULT_NAME)


def container_name(i: int) -> str:
    return f"{prefix()}-c{i}"


def vm_name() -> str:
    return f"{prefix()}-vm"


def up(containers: int = 1, vm: bool = False) -> list[TestHost]:
    """Bring up containers c1..cN (and the VM): hosts already up are left alone. Idempotent."""
    if containers < 0:
        raise TestbedError("testbed", "up", f"--containers must be >= 0, not {containers}")
    vm_host = vm_name()
    wanted = [container_name(i) for i in range(1, containers + 1)] + ([vm_host] if vm else [])
    ensure_host_tools()
    with locked(state_dir() / "lock"):
        hosts = state.load()
        _forget_dead(hosts)
        missing = [n for n in wanted if n not in hosts]
        current = image_hash(read_packages())
        for name in wanted:
            if name in hosts and hosts[name].image != current:
                log.warning(
                    "%s: runs image %s, not the current %s (packages.txt or the recipe changed):"
                    " `hdh testbed down` then `up` to use it",
                    name,
                    hosts[name].image,
                    current,
                )
        if not missing:
            log.info("all %d hosts already up", len(wanted))
        else:
            image = ensure_image()
            logsink.ensure_pki()
            started: list[HostState] = []
            try:
                for name in missing:  # the VM first: it is by far the slowest to boot
                    if name == vm_host:
                        started.append(_start_vm(image, hosts))
                for name in missing:
                    if name != vm_host:
                        started.append(_start_container(image, name, hosts))
            finally:
                state.save(hosts)
            with ThreadPoolExecutor(max_workers=max(1, len(started))) as pool:
                list(pool.map(_wait_ssh, started))
        state.save(hosts)
        return [hosts[n].test_host() for n in wanted]


def down() -> list[str]:
    """Stop every host the testbed started (by PID), remove its namespaces and overlays."""
    with locked(state_dir() / "lock"):
        hosts = state.load()
        names = sorted(hosts)
        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            list(pool.map(_teardown, hosts.values()))
        state.save({})
        from testbed import fleet  # a fleet's namespaces and servers go after its hosts

        fleet.teardown_network()
        return names


def status() -> list[tuple[TestHost, bool]]:
    """Every host in the state with whether all of its processes are still running."""
    return [(h.test_host(), h.running()) for _, h in sorted(state.load().items())]


def _forget_dead(hosts: dict[str, HostState]) -> None:
    """A host whose processes died (crash, reboot of a container) is cleaned and started again."""
    for name, h in list(hosts.items()):
        if not h.running():
            log.warning("%s: not running any more; cleaning it up", name)
            _teardown(h)
            del hosts[name]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(role: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> Proc:
    with open(log_path, "ab") as out:
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env} if env else None,
            start_new_session=True,  # own process group: nothing else is hit when we stop it
        )
    return Proc(role=role, pid=p.pid, start=proc_start_time(p.pid), group=True)


def _start_container(
    image: Image, name: str, hosts: dict[str, HostState], seat: Seat | None = None
) -> HostState:
    """Boot one container: in a namespace of its own, or at `seat` on the fleet's LAN."""
    sdir = state_dir()
    h = HostState(
        name=name,
        kind="container",
        port=_free_port(),
        key=str(image.key),
        image=image.digest,
        netns=None if seat else name,
        socket=str(sdir / f"{name}.sock"),
        address=seat.address if seat else None,
    )
    hosts[name] = h  # recorded before anything is created, so `down` can always undo it
    state.save(hosts)
    logf = sdir / f"{name}.log"
    logf.unlink(missing_ok=True)
    if seat is not None:
        return _start_seated(image, h, seat, hosts, logf)
    run(["ip", "netns", "add", name], host=name, step="network namespace")
    run(["ip", "-n", name, "link", "set", "lo", "up"], host=name, step="network namespace")
    # nspawn inside our namespace. Not `ip netns exec`: it remounts /sys, which hides the cgroup
    # hierarchy from nspawn ("Failed to determine whether the unified cgroups hierarchy is
    # used"); nsenter switches the network namespace only. --network-veth then gives the
    # container a namespace of its own (its net.* sysctls writable, networkd runs) with the host
    # side of the veth in ours. --register=no --keep-unit: there is no systemd on the host.
    nspawn = [
        "nsenter", f"--net=/run/netns/{name}",
        "systemd-nspawn", "--boot", "--quiet", f"--directory={image.rootfs}",
        "--volatile=overlay", f"--machine={name}", "--register=no", "--keep-unit",
        "--network-veth", "--console=passive",
    ]  # fmt: skip
    # SYSTEMD_NSPAWN_TMPFS_TMP=0, else nspawn mounts its own /tmp and fstab's /tmp line is ignored.
    h.procs.append(_spawn("nspawn", nspawn, logf, env={"SYSTEMD_NSPAWN_TMPFS_TMP": "0"}))
    state.save(hosts)
    veth = _wait_veth(name)
    h.procs.append(_container_init(name, h.procs[0]))
    run(
        ["ip", "-n", name, "addr", "add", f"{CONTAINER_PEER}/30", "dev", veth],
        host=name,
        step="veth address",
    )
    run(["ip", "-n", name, "link", "set", veth, "up"], host=name, step="veth up")
    # The host's log collector (TLS syslog), on our side of the veth: see testbed/logsink.py.
    h.log_file = str(sdir / f"{name}.syslog")
    Path(h.log_file).unlink(missing_ok=True)
    sink = [
        "ip",
        "netns",
        "exec",
        name,
        *logsink.argv(f"{CONTAINER_PEER}:{logsink.PORT}", Path(h.log_file)),
    ]
    h.procs.append(_spawn("log-sink", sink, logf))
    # 127.0.0.1:port (root namespace) -> unix socket -> container's sshd (inside our namespace).
    sock = str(h.socket)
    inner = [
        "ip", "netns", "exec", name,
        "socat", f"UNIX-LISTEN:{sock},fork,unlink-early,mode=600", f"TCP:{CONTAINER_ADDR}:22",
    ]  # fmt: skip
    outer = ["socat", f"TCP-LISTEN:{h.port},bind=127.0.0.1,reuseaddr,fork", f"UNIX-CONNECT:{sock}"]
    h.procs.append(_spawn("forward-inner", inner, logf))
    h.procs.append(_spawn("forward-outer", outer, logf))
    state.save(hosts)
    log.info("%s: container started (ssh on 127.0.0.1:%d)", name, h.port)
    return h


def _start_seated(
    image: Image, h: HostState, seat: Seat, hosts: dict[str, HostState], logf: Path
) -> HostState:
    """A fleet container: on the LAN namespace's bridge at its tier address (networkd file and
    apt sources bound read-only over the image's), SSH forwarded like the others."""
    name = h.name
    binds = [f"--bind-ro={src}:{dst}" for src, dst in seat.binds]
    nspawn = [
        "nsenter", f"--net=/run/netns/{seat.netns}",
        "systemd-nspawn", "--boot", "--quiet", f"--directory={image.rootfs}",
        "--volatile=overlay", f"--machine={name}", "--register=no", "--keep-unit",
        f"--network-bridge={seat.bridge}", "--console=passive", *binds,
    ]  # fmt: skip
    h.procs.append(_spawn("nspawn", nspawn, logf, env={"SYSTEMD_NSPAWN_TMPFS_TMP": "0"}))
    state.save(hosts)
    h.procs.append(_container_init(name, h.procs[0]))
    sock = str(h.socket)
    inner = [
        "ip", "netns", "exec", seat.netns,
        "socat", f"UNIX-LISTEN:{sock},fork,unlink-early,mode=600", f"TCP:{seat.address}:22",
    ]  # fmt: skip
    outer = ["socat", f"TCP-LISTEN:{h.port},bind=127.0.0.1,reuseaddr,fork", f"UNIX-CONNECT:{sock}"]
    h.procs.append(_spawn("forward-inner", inner, logf))
    h.procs.append(_spawn("forward-outer", outer, logf))
    state.save(hosts)
    log.info("%s: container started at %s (ssh on 127.0.0.1:%d)", name, seat.address, h.port)
    return h


def _container_init(name: str, nspawn: Proc, timeout: float = 30.0) -> Proc:
    """The container's PID 1 (systemd), recorded so `down` can end the container if nspawn
    cannot: a SIGKILLed nspawn would leave the container's processes running, orphaned."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in child_pids(nspawn.pid):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return Proc(role="container-init", pid=pid, start=proc_start_time(pid))
        time.sleep(0.1)
    raise TestbedError(name, "boot", f"no systemd under nspawn after {timeout:.0f} s")


def _wait_veth(name: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = run(["ip", "-n", name, "-o", "link", "show", "type", "veth"], host=name, step="veth")
        for line in out.splitlines():
            # "5: ve-hdh-tb-c1@if2: <...>" -> the interface name before '@'
            return line.split(":")[1].strip().split("@")[0]
        time.sleep(0.1)
    raise TestbedError(name, "veth", f"nspawn made no veth in {timeout:.0f} s (see its log)")


def _start_vm(image: Image, hosts: dict[str, HostState]) -> HostState:
    sdir = state_dir()
    name = vm_name()
    overlay = sdir / f"{name}.qcow2"
    h = HostState(
        name=name,
        kind="vm",
        port=_free_port(),
        key=str(image.key),
        image=image.digest,
        overlay=str(overlay),
    )
    hosts[name] = h
    state.save(hosts)
    overlay.unlink(missing_ok=True)
    run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image.disk, overlay],
        host=name,
        step="disk overlay",
    )
    logf = sdir / f"{name}.log"
    logf.unlink(missing_ok=True)
    append = f"root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet systemd.hostname={name}"
    qemu = [
        "qemu-system-x86_64",
        "-accel", "tcg,tb-size=256",  # software emulation: /dev/kvm here is unusable (testbed.md)
        "-cpu", "max", "-m", str(VM_MEMORY_MIB), "-smp", "1",
        "-display", "none", "-nodefaults", "-no-user-config",
        "-serial", f"file:{sdir / f'{name}.console'}",
        "-kernel", str(image.kernel), "-initrd", str(image.initrd), "-append", append,
        "-drive", f"file={overlay},if=virtio,cache=unsafe,format=qcow2",
        "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{h.port}-:22",
        "-device", "virtio-net-pci,netdev=n0",
        "-device", "virtio-rng-pci",
    ]  # fmt: skip
    h.procs.append(_spawn("qemu", qemu, logf))
    state.save(hosts)
    log.info("%s: VM started (ssh on 127.0.0.1:%d)", name, h.port)
    return h


def _wait_ssh(h: HostState) -> None:
    """Wait until `ssh deploy@127.0.0.1 -p port true` succeeds, as any client would."""
    timeout = VM_SSH_TIMEOUT if h.kind == "vm" else CONTAINER_SSH_TIMEOUT
    t0 = time.monotonic()
    argv = h.test_host().ssh_argv("true")
    while time.monotonic() - t0 < timeout:
        if not h.running():
            raise TestbedError(h.name, "boot", f"exited before SSH came up (see {_log(h)})")
        try:
            res = subprocess.run(argv, capture_output=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:  # sshd accepted but the host is too busy to answer yet
            continue
        if res.returncode == 0:
            log.info("%s: ssh up after %.1f s", h.name, time.monotonic() - t0)
            return
        time.sleep(1.0 if h.kind == "vm" else 0.3)
    raise TestbedError(h.name, "boot", f"no SSH after {timeout:.0f} s (see {_log(h)})")


def _log(h: HostState) -> Path:
    return state_dir() / f"{h.name}.log"


def _teardown(h: HostState) -> None:
    """Stop the host's processes (forwarders first), then remove what we created for it."""
    init = next((p for p in h.procs if p.role == "container-init"), None)
    for p in reversed(h.procs):
        if p.role.startswith("forward"):
            _stop_group(p)
        elif p.role == "nspawn":
            _stop_nspawn(p, init)
        elif p.role != "container-init":
            stop(p.pid, p.start, grace=30.0)  # qemu quits at once on SIGTERM
    if h.netns:
        netns_path = Path("/run/netns") / h.netns
        if netns_path.exists():
            run(["ip", "netns", "delete", h.netns], host=h.name, step="remove namespace")
    for path in (h.socket, h.overlay, h.log_file):
        if path:
            Path(path).unlink(missing_ok=True)
    for suffix in (".log", ".console"):
        (state_dir() / f"{h.name}{suffix}").unlink(missing_ok=True)
    log.info("%s: down", h.name)


def _stop_nspawn(nspawn: Proc, init: Proc | None) -> None:
    """SIGTERM asks the container's systemd for a clean poweroff (under a second normally). If
    it hangs, SIGKILL the container's PID 1, which ends its whole PID namespace; nspawn then
    exits by itself and cleans up its mounts and veth."""
    signal_proc(nspawn.pid, nspawn.start, signal.SIGTERM)
    if wait_gone(nspawn.pid, nspawn.start, 10.0):
        return
    if init is not None:
        log.warning("pid %d (container) did not power off in 10 s: SIGKILL", init.pid)
        signal_proc(init.pid, init.start, signal.SIGKILL)
        if wait_gone(nspawn.pid, nspawn.start, 10.0):
            return
    stop(nspawn.pid, nspawn.start, grace=0.0, sig=signal.SIGKILL)


def _stop_group(p: Proc) -> None:
    """socat forks one child per connection into its group: stop the leader, then the group."""
    with contextlib.suppress(ProcessLookupError):
        if proc_start_time(p.pid) == p.start and os.getpgid(p.pid) == p.pid:
            os.killpg(p.pid, signal.SIGTERM)
    stop(p.pid, p.start, grace=5.0)
