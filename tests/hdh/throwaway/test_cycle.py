"""Phase control flow: needs, injected failures, expiry, and signals that never cut teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hdh.throwaway import cycle, phases
from hdh.throwaway.report import Report
from hdh.throwaway.workspace import CHILDREN


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> cycle.Environment:
    monkeypatch.setenv("HDH_CACHE", str(tmp_path / "cache"))
    report = Report("cycle", "tw-local-abcd", "local", f"file://{tmp_path}", "2999-01-01T00:00:00Z")
    return cycle.Environment("tw-local-abcd", f"file://{tmp_path}", report, cycle.Options())


def test_a_phase_runs_only_after_what_it_needs(env: cycle.Environment) -> None:
    ran: list[str] = []

    def body(name: str) -> Any:
        def run() -> dict[str, int]:
            ran.append(name)
            return {"n": 1}

        return run

    def fails() -> None:
        raise phases.PhaseFailed("no SSH answer", {"secondsToSsh": {}})

    assert env.run("up", body("up"))
    assert not env.run("ssh", fails, needs=("up",))
    assert not env.run("harden", body("harden"), needs=("ssh",))
    assert not env.run("verify", body("verify"), needs=("harden",))
    assert ran == ["up"]
    st = {p.name: (p.status, p.detail) for p in env.report.phases}
    assert st["ssh"] == ("failed", "no SSH answer")
    assert st["harden"] == ("not-run", "needs ssh (failed)")
    assert st["verify"] == ("not-run", "needs harden (not-run)")
    assert env.report.phase("up").facts == {"n": 1}


def test_an_injected_failure_fails_its_phase_and_teardown_phases_still_run(
    env: cycle.Environment,
) -> None:
    class Injected(Exception):
        pass

    def hook(name: str, _env: cycle.Environment) -> None:
        if name == "harden":
            raise Injected("during hardening")

    env.hook = hook
    assert env.run("ssh", lambda: {})
    assert not env.run("harden", lambda: {}, needs=("ssh",))
    assert env.report.phase("harden").detail == "Injected: during hardening"
    assert env.run("destroy", lambda: {}, teardown=True)  # teardown does not care what failed


def test_an_expired_environment_stops_before_the_next_phase(env: cycle.Environment) -> None:
    env.report.expires_at = "2000-01-01T00:00:00Z"
    assert not env.run("verify", lambda: {})
    assert "expired at 2000-01-01T00:00:00Z" in env.report.phase("verify").detail
    assert env.run("destroy", lambda: {}, teardown=True), "teardown runs whatever the expiry"


def test_a_signal_asks_children_to_stop_and_never_raises(env: cycle.Environment) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGINT, lambda *a: (print('SIGINT', flush=True), sys.exit(0)))\n"
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    CHILDREN.add(child)
    try:
        with env.guard:

            def body() -> None:
                os.kill(os.getpid(), signal.SIGTERM)  # as CI does when a job is cancelled
                child.wait(10)
                raise phases.PhaseFailed("engine stopped")

            assert not env.run("up", body)
            assert child.stdout.read().strip() == "SIGINT"
            assert env.report.phase("up").status == "interrupted"
            assert env.report.interrupted_by == "SIGTERM"
            assert not env.run("policy", lambda: {}, needs=())
            assert env.report.phase("policy").detail == "stopped by SIGTERM"
            env.guard.tearing_down = True
            os.kill(os.getpid(), signal.SIGINT)  # a second signal during teardown: ignored
            time.sleep(0.1)
            assert env.run("destroy", lambda: {}, teardown=True)
    finally:
        CHILDREN.discard(child)
        child.kill()
        child.wait()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert env.report.exit_code == 143


def test_a_bug_in_a_phase_is_a_failure_with_its_traceback_logged(
    env: cycle.Environment, caplog: pytest.LogCaptureFixture
) -> None:
    facts: dict[str, Any] = {}
    assert not env.run("policy", lambda: facts["missing"])
    assert env.report.phase("policy").detail == "KeyError: 'missing'"
    assert any(r.exc_info for r in caplog.records), "the traceback is not hidden"


def test_the_bastion_is_reached_at_its_public_address() -> None:
    inv: dict[str, Any] = {
        "bastion": {"address": "203.0.113.7", "user": "deploy"},
        "hosts": [
            {"name": "hdh-bastion", "address": "10.90.0.47", "role": "bastion"},
            {"name": "hdh-data0", "address": "10.90.16.5", "role": "data"},
        ],
    }
    out = cycle._reachable(inv)
    assert [h["address"] for h in out["hosts"]] == ["203.0.113.7", "10.90.16.5"]
    assert inv["hosts"][0]["address"] == "10.90.0.47", "the stack's output is not changed"
    via = cycle._reachable(inv, ("127.0.0.1", 2222))
    assert via["bastion"] == {"address": "127.0.0.1", "port": 2222, "user": "deploy"}
    assert via["hosts"][0] | {} == {
        "name": "hdh-bastion",
        "address": "127.0.0.1",
        "port": 2222,
        "role": "bastion",
    }
    assert "port" not in via["hosts"][1]
