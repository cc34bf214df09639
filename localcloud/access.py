"""Reaching the guests from this machine, and what their host side shows (domains, QEMU, taps)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from localcloud import compute, netns
from localcloud.paths import ADMIN_SOURCE, EXT_NETNS, Layout, LocalCloudError, state_dir
from testbed.proc import alive, proc_start_time, stop

# cloud-init prints each instance's SSH host keys between these lines on the serial console,
# which Nova keeps: known_hosts come from there, so nothing is accepted on first use.
KEYS_BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
KEYS_END = "-----END SSH HOST KEY KEYS-----"
QEMU_COMM = "qemu-system-x86"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BastionForward:
    """127.0.0.1:`port` here -> the bastion's floating IP, port 22, seen from the outside.

    The connection is opened inside EXT_NETNS (where the public range lives) from ADMIN_SOURCE,
    an address of the stack's admin CIDRs: exactly what an administrator's SSH would be, and the
    only way in that the bastion's security group opens. SSH clients on this machine (OpenSSH,
    pyinfra, `hdh harden`) then reach every host with ProxyJump through it.
    """

    floating_ip: str
    port: int = 0
    layout: Layout | None = None  # the cloud's; default: under $HDH_CACHE as it is now
    _procs: tuple[tuple[int, int | None], ...] = ()

    def start(self) -> BastionForward:
        layout = self.layout or Layout(state_dir())
        self.port = self.port or free_port()
        sock = layout.run / f"bastion-{self.floating_ip}.sock"
        inner = [
            *("ip", "netns", "exec", EXT_NETNS, "socat"),
            f"UNIX-LISTEN:{sock},fork,unlink-early,mode=600",
            f"TCP:{self.floating_ip}:22,bind={ADMIN_SOURCE},connect-timeout=10",
        ]
        outer = [
            "socat",
            f"TCP-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork",
            f"UNIX-CONNECT:{sock}",
        ]
        procs = []
        for argv in (inner, outer):
            p = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            procs.append((p.pid, proc_start_time(p.pid)))
            if argv is inner:
                _wait_for(sock.exists, 10, f"forward to {self.floating_ip}")
        self._procs = tuple(procs)
        _wait_for(lambda: _listening(self.port), 10, f"forward on 127.0.0.1:{self.port}")
        return self

    def stop(self) -> None:
        for pid, st in reversed(self._procs):
            stop(pid, st, grace=5)
        self._procs = ()

    @property
    def running(self) -> bool:
        return bool(self._procs) and all(alive(pid, st) for pid, st in self._procs)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(ok: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ok():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise LocalCloudError("access", f"{what}: not ready after {timeout:.0f} s")
        time.sleep(0.1)


def host_keys(console: str) -> list[str]:
    """The `type base64` host keys cloud-init printed on a console log (the last block)."""
    start = console.rfind(KEYS_BEGIN)
    end = console.find(KEYS_END, start)
    if start < 0 or end < 0:
        return []
    block = console[start + len(KEYS_BEGIN) : end]
    keys = []
    for line in block.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(("ssh-", "ecdsa-")):
            keys.append(f"{parts[0]} {parts[1]}")
    return keys


def known_hosts_lines(name: str, keys: list[str]) -> list[str]:
    """known_hosts entries for `name` (an address, or `[addr]:port`)."""
    return [f"{name} {k}" for k in keys]


def probe_tcp(address: str, port: int, *, source: str | None = None, timeout: float = 3) -> str:
    """From inside EXT_NETNS: `open`, `refused` or `timeout` (dropped) for address:port."""
    code = (
        "import socket,sys\n"
        "s=socket.socket();s.settimeout(float(sys.argv[4]))\n"
        "sys.argv[3] and s.bind((sys.argv[3],0))\n"
        "try:\n s.connect((sys.argv[1],int(sys.argv[2])));print('open')\n"
        "except ConnectionRefusedError: print('refused')\n"
        "except (TimeoutError, socket.timeout): print('timeout')\n"
        "except OSError as e: print('error', e.errno)\n"
    )
    argv = ["ip", "netns", "exec", EXT_NETNS, "/usr/bin/python3", "-c", code]
    res = subprocess.run(
        [*argv, address, str(port), source or "", str(timeout)],
        capture_output=True,
        text=True,
        timeout=timeout + 10,
        check=False,
    )
    return res.stdout.strip() or f"failed: {res.stderr.strip()[-200:]}"


@contextlib.contextmanager
def route_in_outside_ns(cidr: str, via: str) -> Iterator[None]:
    """A temporary route in EXT_NETNS (e.g. to tier networks through a router's gateway port)."""
    base = ["ip", "netns", "exec", EXT_NETNS, "ip", "route"]
    subprocess.run([*base, "replace", cidr, "via", via], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run([*base, "del", cidr, "via", via], check=False, capture_output=True)


def qemu_processes(layout: Layout | None = None) -> dict[str, int]:
    """{libvirt domain name: pid} of the QEMU processes running our guests."""
    root = str((layout or Layout(state_dir())).root)
    out = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if (p / "comm").read_text().strip() != QEMU_COMM:
                continue
            argv = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv]
        if not any(root in a for a in args):
            continue
        name = next((a.split("=", 1)[1].split(",")[0] for a in args if a.startswith("guest=")), "")
        out[name or p.name] = int(p.name)
    return out


def memory_mib(pid: int) -> dict[str, int]:
    """RSS and PSS of one process, in MiB."""
    rss = pss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return {"rss_mib": rss // 1024, "pss_mib": pss // 1024}


def tap_devices() -> list[str]:
    return sorted(
        d.name for d in Path("/sys/class/net").iterdir() if netns.NEUTRON_TAP.fullmatch(d.name)
    )


def volume_files(layout: Layout | None = None) -> list[str]:
    """Cinder's volume files on the share (a volume is `volume-<id>`, its snapshots beside)."""
    export = (layout or Layout(state_dir())).data / "cinder-export"
    return sorted(p.name for p in export.glob("volume-*")) if export.is_dir() else []


def is_luks(path: Path) -> bool:
    """LUKS header magic ("LUKS\\xba\\xbe") at the start of the file."""
    with open(path, "rb") as fh:
        return fh.read(6) == b"LUKS\xba\xbe"


def host_leftovers(layout: Layout | None = None) -> dict[str, list[str]]:
    """What a destroyed deployment must not leave on the compute host."""
    return {
        "domains": compute.domains(all_states=True),
        "qemu_processes": sorted(qemu_processes(layout)),
        "tap_devices": tap_devices(),
        "volume_files": volume_files(layout),
    }


def plain_text_in(path: Path, marker: bytes, chunk: int = 2**22) -> bool:
    """Whether `marker` appears anywhere in the file (checks data at rest is not readable)."""
    tail = b""
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            if marker in tail + block:
                return True
            tail = block[-len(marker) :]
    return False


def libvirt_disks(domain: str) -> list[dict[str, str]]:
    """Each disk of a domain: its source file, target and encryption format (if any)."""
    res = compute.virsh("dumpxml", domain)
    out = []
    for disk in re.findall(r"<disk .*?</disk>", res.stdout, flags=re.S):
        src = re.search(r"<source file='([^']+)'", disk)
        tgt = re.search(r"<target dev='([^']+)'", disk)
        enc = re.search(r"<encryption format='([^']+)'", disk)
        out.append(
            {
                "source": src.group(1) if src else "",
                "target": tgt.group(1) if tgt else "",
                "encryption": enc.group(1) if enc else "",
            }
        )
    return out


def block_nodes(domain: str) -> list[dict[str, str]]:
    """QEMU's block nodes of a running guest: driver (`luks`, `raw`, `file`) and the file."""
    res = compute.virsh(
        "qemu-monitor-command",
        domain,
        '{"execute":"query-named-block-nodes","arguments":{"flat":true}}',
    )
    out = []
    for node in json.loads(res.stdout or "{}").get("return", []):
        name = str(node.get("image", {}).get("filename", ""))
        if name.startswith("json:"):  # a format node over a file node: {"file": {"filename"}}
            name = json.loads(name[5:]).get("file", {}).get("filename", "")
        out.append({"driver": str(node.get("drv", "")), "file": name})
    return out


def qemu_cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
