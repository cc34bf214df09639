"""Shared pytest fixtures for tests on the testbed (registered in tests/conftest.py).

Session-scoped: the image is built (or found in the cache) and the hosts booted once per run.
    testbed_containers  -> list[TestHost], containers hdh-tb-c1..cN (N = $HDH_TESTBED_CONTAINERS, 2)
    testbed_vm          -> TestHost, the QEMU VM hdh-tb-vm (kernel tier: sysctls, modules, auditd)
    testbed_hosts       -> list[TestHost], all of the above
    testbed_inventory   -> Path of the pyinfra inventory (groups `containers`, `vms`)
    testbed_ssh_config  -> Path of the ssh config (`pytest --hosts=ssh://hdh-tb-c1 --ssh-config=`)
    ssg_baseline        -> scap.SsgBaseline: SSG's remediation (tailored intermediary), fresh twin
    ssg_baseline_enhanced -> the same for the tailored enhanced profile, on a twin of its own
                           container outside the main inventory, scores before/after (~80 s)
    ssh_run             -> callable(host, command, tty=False) -> CompletedProcess, over SSH like
                           any client; tty=True for sudo once BP-028 sets `Defaults requiretty`
                           (stderr then arrives in stdout, lines end with \\r\\n)

One pytest session at a time owns a testbed: a second one fails at once, naming the first (give
it another HDH_TESTBED_NAME). At the end of the session the testbed is taken down if the session
brought it up (CI leaves nothing behind); hosts already up before (`hdh testbed up`) are left
up. HDH_TESTBED_KEEP=1 always keeps them, HDH_TESTBED_KEEP=0 always takes them down.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import testbed
from testbed import TestHost, scap

SshRun = Callable[..., "subprocess.CompletedProcess[str]"]


def _containers() -> int:
    return int(os.environ.get("HDH_TESTBED_CONTAINERS", "2"))


@pytest.fixture(scope="session")
def testbed_session() -> Iterator[None]:
    """One test session per testbed at a time; decides at the end whether to take it down."""
    if os.geteuid() != 0:
        pytest.skip("the testbed needs root (network namespaces, nspawn)")
    sdir = testbed.state_dir()
    sdir.mkdir(parents=True, exist_ok=True)
    with open(sdir / "session.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            pytest.fail(
                f"testbed {testbed.prefix()} is in use by another test session (pid "
                f"{lock.read().strip() or '?'}): wait for it, or run this one on a second testbed "
                "with HDH_TESTBED_NAME=<another prefix>"
            )
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        was_up = bool(testbed.status())
        if was_up and os.environ.get("CI") == "true":
            # A CI run judges fresh hosts: one kept from an earlier session may carry what
            # that session's tests (or a person) left on it.
            testbed.down()
            was_up = False
        yield
        keep = os.environ.get("HDH_TESTBED_KEEP", "")
        if keep == "0" or (keep != "1" and not was_up):
            testbed.down()


@pytest.fixture(scope="session")
def testbed_containers(testbed_session: None) -> list[TestHost]:
    hosts = testbed.up(containers=_containers(), vm=False)
    return [h for h in hosts if h.kind == "container"]


@pytest.fixture(scope="session")
def testbed_vm(testbed_session: None, testbed_containers: list[TestHost]) -> TestHost:
    # Containers first (seconds), then the VM (~1 min): `up` leaves running hosts alone.
    hosts = testbed.up(containers=_containers(), vm=True)
    return next(h for h in hosts if h.kind == "vm")


@pytest.fixture(scope="session")
def testbed_hosts(testbed_containers: list[TestHost], testbed_vm: TestHost) -> list[TestHost]:
    return [*testbed_containers, testbed_vm]


@pytest.fixture(scope="session")
def testbed_inventory(testbed_containers: list[TestHost]) -> Path:
    return testbed.inventory_path()


@pytest.fixture(scope="session")
def testbed_ssh_config(testbed_containers: list[TestHost]) -> Path:
    return testbed.ssh_config_path()


@pytest.fixture(scope="session")
def ssh_run() -> SshRun:
    def _run(host: TestHost, command: str, tty: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            host.ssh_argv(command, tty=tty),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    return _run


@pytest.fixture(scope="session")
def ssg_baseline(testbed_session: None) -> scap.SsgBaseline:
    # Judged on our tailored profile (its fix generated from it), scanned with the stock one too.
    return scap.ssg_baseline(scap.INTERMEDIARY_HDH, also=(scap.INTERMEDIARY,))


@pytest.fixture(scope="session")
def ssg_baseline_enhanced(testbed_session: None) -> scap.SsgBaseline:
    return scap.ssg_baseline(scap.ENHANCED_HDH, twin=f"{testbed.prefix()}es", also=(scap.ENHANCED,))
