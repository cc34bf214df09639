"""`hdh drift`'s hardening phase on real Debian 12 hosts of the testbed: the testinfra checks run
over SSH on every host that answers, a planted deviation is drift, a dead host is named."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hdh.drift import phase_hardening
from testbed import TestHost

pytestmark = pytest.mark.testbed


def test_hardening_phase_finds_a_planted_deviation(
    testbed_containers: list[TestHost], ssh_run: Any, tmp_path: Path
) -> None:
    host = testbed_containers[0]
    # A world-writable directory without the sticky bit (BP-028 R54).
    planted = ssh_run(host, "sudo -n sh -c 'mkdir -p /srv/drift && chmod 0777 /srv/drift'")
    assert planted.returncode == 0, planted.stderr
    inventory = {
        "hosts": [
            {"name": host.name, "address": host.host, "port": host.port, "role": "base"},
            {"name": "hdh-gone", "address": "127.0.0.1", "port": 9, "role": "base"},
        ]
    }

    def run(*args: str, **_: Any) -> subprocess.CompletedProcess[str]:
        assert args == ("stack", "output", "--json"), args
        return subprocess.CompletedProcess(args, 0, json.dumps({"inventory": inventory}), "")

    try:
        phase = phase_hardening(
            run,
            str(host.key_path),
            host.user,
            tmp_path / "reports",
            connect_timeout=5,
            known_hosts=str(tmp_path / "known_hosts"),
            accept_new_host_keys=True,
        )
    finally:
        ssh_run(host, "sudo -n rm -rf /srv/drift")
    assert phase.status == "drift", phase.detail
    assert phase.detail["roles"]["base"]["hosts"] == [host.name]
    assert [u["host"] for u in phase.detail["unreachable"]] == ["hdh-gone"]
    report = json.loads((tmp_path / "reports" / "base" / "report.json").read_text())
    assert report["controls"]["R54"]["result"] == "failed", report["controls"]["R54"]
    assert report["summary"]["passed"] > 10, "the checks really ran on the host"
