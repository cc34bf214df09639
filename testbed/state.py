"""The testbed's run state (what it started, by PID) and the files other tools read from it."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from testbed import logsink
from testbed.image import CONTAINER_PEER
from testbed.paths import state_dir
from testbed.proc import alive

log = logging.getLogger(__name__)

Kind = Literal["container", "vm"]


@dataclass(frozen=True)
class TestHost:
    """One testbed host, reached exactly like a real one: `ssh -p port user@host -i key_path`."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    kind: Kind
    host: str
    port: int
    user: str
    key_path: Path
    log_file: Path | None = None  # what its log collector received (containers)

    def ssh_argv(self, *command: str, tty: bool = False) -> list[str]:
        """An `ssh` command line that runs `command` on this host (non-interactive).

        `tty=True` forces a terminal: sudo under BP-028's `Defaults requiretty` needs one.
        """
        return [
            "ssh",
            *(["-tt"] if tty else []),
            *SSH_OPTIONS,
            "-i",
            str(self.key_path),
            "-p",
            str(self.port),
            f"{self.user}@{self.host}",
            *command,
        ]

    def pyinfra_host(self, role: str) -> tuple[str, dict[str, Any]]:
        """This host as a pyinfra inventory entry (name, data) for `hardening.run.harden_hosts`."""
        return (
            self.name,
            {
                "ssh_hostname": self.host,
                "ssh_port": self.port,
                "ssh_user": self.user,
                "ssh_key": str(self.key_path),
                "ssh_known_hosts_file": "/dev/null",
                "ssh_strict_host_key_checking": "no",
                "deploy_user": self.user,
                "hdh_role": role,
                **self.log_data(),
            },
        )

    def log_data(self) -> dict[str, str]:
        """Host data naming its log collector (R71 forwarding over TLS), if it has one."""
        if self.log_file is None:
            return {}
        return {
            "log_remote": f"{CONTAINER_PEER}:{logsink.PORT}",
            "log_remote_ca": str(logsink.ca_path()),
            "log_remote_name": logsink.NAME,
        }


# Every testbed host shares the image's host keys and lives on 127.0.0.1: pin nothing.
SSH_OPTIONS = (
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "ConnectTimeout=10",
)


@dataclass
class Proc:
    """A process the testbed started; `start` (clock ticks since boot) guards against PID reuse."""

    role: str
    pid: int
    start: int | None
    group: bool = False  # leader of its own process group (socat forks a child per connection)


@dataclass
class HostState:
    name: str
    kind: Kind
    port: int
    key: str
    image: str
    netns: str | None = None
    overlay: str | None = None
    socket: str | None = None
    log_file: str | None = None
    procs: list[Proc] = field(default_factory=list)
    foreign: bool = False  # written by another version: only good for teardown

    def test_host(self) -> TestHost:
        return TestHost(
            self.name,
            self.kind,
            "127.0.0.1",
            self.port,
            "deploy",
            Path(self.key),
            Path(self.log_file) if self.log_file else None,
        )

    def running(self) -> bool:
        return (
            not self.foreign and bool(self.procs) and all(alive(p.pid, p.start) for p in self.procs)
        )


def state_file() -> Path:
    return state_dir() / "state.json"


def inventory_path() -> Path:
    """pyinfra inventory of the hosts that are up (groups `containers` and `vms`)."""
    return state_dir() / "inventory.py"


def ssh_config_path() -> Path:
    """OpenSSH client config naming every host (`ssh -F FILE hdh-tb-c1`, testinfra)."""
    return state_dir() / "ssh_config"


def load() -> dict[str, HostState]:
    """The hosts of the state file, read leniently: the cache outlives checkouts.

    Another version of the testbed (an older or newer checkout sharing the cache) may have
    written fields this one does not know, or lack some it needs. Unknown fields are dropped
    with a warning; a record this version cannot use keeps only what teardown needs (its
    processes, namespace, overlay, socket) and reports itself not running, so the next `up`
    cleans it and starts the host afresh. Never a traceback over a stale file.
    """
    path = state_file()
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
        records = raw["hosts"] if isinstance(raw, dict) else None
        if not isinstance(records, dict):
            raise ValueError("no 'hosts' table")
    except (OSError, ValueError, KeyError) as e:
        log.warning("%s: unreadable (%s): ignored; its hosts, if any, are not tracked", path, e)
        return {}
    hosts = {}
    for name, h in records.items():
        if isinstance(h, dict):
            hosts[name] = _host_of(str(name), h)
    return hosts


_FIELDS = {f.name for f in fields(HostState)} - {"procs"}


def _host_of(name: str, h: dict[str, Any]) -> HostState:
    procs = []
    for p in h.get("procs", []) if isinstance(h.get("procs"), list) else []:
        try:
            procs.append(Proc(str(p["role"]), int(p["pid"]), p.get("start"), bool(p.get("group"))))
        except (TypeError, KeyError, ValueError):
            log.warning("state: %s: a process record is unreadable: ignored", name)
    unknown = sorted(set(h) - _FIELDS - {"procs"})
    if unknown:
        log.warning(
            "state: %s: written by another testbed version (fields %s ignored)", name, unknown
        )
    known = {k: v for k, v in h.items() if k in _FIELDS}
    try:
        return HostState(**known, procs=procs)
    except TypeError:
        log.warning(
            "state: %s: written by another testbed version: will be cleaned and restarted", name
        )
        return HostState(
            name,
            "vm" if known.get("kind") == "vm" else "container",
            int(known.get("port") or 0),
            str(known.get("key") or ""),
            image="",
            netns=known.get("netns"),
            overlay=known.get("overlay"),
            socket=known.get("socket"),
            log_file=known.get("log_file"),
            procs=procs,
            foreign=True,
        )


def save(hosts: dict[str, HostState]) -> None:
    """Write the state, then the inventory and ssh config derived from it (or remove all)."""
    sdir = state_dir()
    if not hosts:
        for path in (state_file(), inventory_path(), ssh_config_path()):
            path.unlink(missing_ok=True)
        return
    sdir.mkdir(parents=True, exist_ok=True)
    # `foreign` is this process's verdict on a record, not state: never written.
    body = {"hosts": {n: _record(h) for n, h in sorted(hosts.items())}}
    tmp = state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1))
    tmp.replace(state_file())
    tests = [h.test_host() for _, h in sorted(hosts.items(), key=lambda kv: _order(kv[0]))]
    inventory_path().write_text(render_inventory(tests, sdir / "known_hosts"))
    ssh_config_path().write_text(render_ssh_config(tests))


def _record(h: HostState) -> dict[str, Any]:
    return {k: v for k, v in asdict(h).items() if k != "foreign"}


def _order(name: str) -> tuple[str, int]:
    head, _, tail = name.rpartition("c")
    return (head, int(tail)) if tail.isdigit() else (name, 0)


def render_inventory(hosts: list[TestHost], known_hosts: Path) -> str:
    """A pyinfra inventory module: `pyinfra FILE deploy.py`, groups `containers` and `vms`."""
    lines = [
        '"""pyinfra inventory of the hdh testbed (generated by testbed; do not edit)."""',
        "",
    ]
    for group, kind in (("containers", "container"), ("vms", "vm")):
        lines.append(f"{group} = [")
        for h in hosts:
            if h.kind != kind:
                continue
            data = {
                "ssh_hostname": h.host,
                "ssh_port": h.port,
                "ssh_user": h.user,
                "ssh_key": str(h.key_path),
                "ssh_strict_host_key_checking": "no",
                "ssh_known_hosts_file": str(known_hosts),
                "kind": h.kind,
                **h.log_data(),
            }
            lines.append(f"    ({h.name!r}, {data!r}),")
        lines.append("]")
    return "\n".join(lines) + "\n"


def render_ssh_config(hosts: list[TestHost]) -> str:
    """OpenSSH client configuration, one `Host` block per testbed host."""
    out = ["# hdh testbed hosts (generated by testbed; do not edit)"]
    for h in hosts:
        out += [
            f"Host {h.name}",
            f"  HostName {h.host}",
            f"  Port {h.port}",
            f"  User {h.user}",
            f"  IdentityFile {h.key_path}",
            "  IdentitiesOnly yes",
            "  StrictHostKeyChecking no",
            "  UserKnownHostsFile /dev/null",
            "  LogLevel ERROR",
            "  ConnectTimeout 10",
            "",
        ]
    return "\n".join(out)
