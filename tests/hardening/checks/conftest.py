"""testinfra checks keyed by ANSSI R-number: role-aware, host-kind aware, reported per control.

    pytest tests/hardening/checks --hosts=ssh://deploy@HOST --sudo [--hdh-role ROLE]
           [--hdh-report DIR]  (report.json + report.md: passed / failed / not applicable)

Without --hosts the checks are deselected: never run against the machine that runs pytest.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from hardening import data
from hardening.report import Recorder

RECORDER_KEY = pytest.StashKey[Recorder]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hdh hardening checks")
    group.addoption("--hdh-role", default=data.DEFAULT_ROLE, help="role the host was hardened as")
    group.addoption("--hdh-level", default=None, help="ANSSI level (default: the role's)")
    group.addoption("--hdh-report", default=None, help="directory for report.json and report.md")
    group.addoption("--hdh-log-remote", default=None, help="host:port logs are forwarded to")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kernel: needs the host's own kernel (VM or bare metal)")
    config.stash[RECORDER_KEY] = Recorder()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("hosts", None):
        return
    # No target: the checks are deselected, never run against the machine running pytest.
    checks = [i for i in items if "tests/hardening/checks" in str(i.fspath)]
    if checks:
        config.hook.pytest_deselected(items=checks)
        items[:] = [i for i in items if i not in checks]


@pytest.fixture(scope="module")
def role(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("hdh_role"))


@pytest.fixture(scope="module")
def level(request: pytest.FixtureRequest, role: str) -> str:
    return str(request.config.getoption("hdh_level") or data.role(role).level)


KINDS_KEY = pytest.StashKey[dict[str, str]]()


@pytest.fixture(scope="module")
def kind(host: Any, request: pytest.FixtureRequest) -> str:
    out = host.run(
        "systemd-detect-virt --quiet --container && echo container || "
        "{ systemd-detect-virt --quiet --vm && echo vm || echo none; }"
    )
    value = str(out.stdout.strip())
    request.config.stash.setdefault(KINDS_KEY, {})[str(host.backend.hostname)] = value
    return value


@pytest.fixture
def expect(role: str, level: str) -> Any:
    """expect(area, key) -> value for this role/level; skips (waived) if the role waives it."""

    def _expect(area: str, key: str) -> Any:
        s = data.settings(area, role, level)
        if key not in s:
            dev = data.deviation(area, key, role)
            if dev is not None:
                pytest.skip(f"waived for role {role} ({dev.control}): {dev.why.strip()}")
            base = data.baseline(area, "high").get(key)
            pytest.skip(
                f"not required at level {level}"
                + (f" ({base.control} asks for it from a higher level)" if base else "")
            )
        return s[key].value

    return _expect


@pytest.fixture
def kernel_host(kind: str) -> None:
    if kind == "container":
        pytest.skip("container: shares the host's kernel (checked on the VM)")


RNUM_IN_NAME = re.compile(r"^test_r(\d+)_")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    m = RNUM_IN_NAME.match(getattr(item, "originalname", item.name))
    if not m:
        return
    host = getattr(item, "callspec", None)
    target = ""
    if host is not None:
        backend = host.params.get("_testinfra_host")
        target = str(getattr(getattr(backend, "backend", None), "hostname", "") or "")
    kind = item.config.stash.get(KINDS_KEY, {}).get(target, "")
    item.config.stash[RECORDER_KEY].add(
        control=f"R{m.group(1)}", check=item.name, report=report, host=target, kind=kind
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = session.config.getoption("hdh_report")
    if out:
        rec = session.config.stash[RECORDER_KEY]
        rec.write(out, role=session.config.getoption("hdh_role"))


@pytest.fixture(autouse=True)
def _host_kind(request: pytest.FixtureRequest) -> None:
    """Every check records the kind of host it ran on (container, vm, none)."""
    if "host" in request.fixturenames:
        request.getfixturevalue("kind")
