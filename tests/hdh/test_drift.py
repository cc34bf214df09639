"""`hdh drift` pieces that need no cloud: step parsing, the history file, engine errors."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from hdh import cli
from hdh.commands.drift import summary
from hdh.drift import UNNAMED, DriftError, append, changes, detect


def test_changes_ignore_same_read_and_the_stack() -> None:
    doc = {
        "steps": [
            {"op": "same", "urn": "urn:pulumi:s::p::openstack:networking/network:Network::a"},
            {"op": "read", "urn": "urn:pulumi:s::p::openstack:images/image:Image::i"},
            {"op": "update", "urn": "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s"},
            {
                "op": "update",
                "urn": "urn:pulumi:s::p::openstack:networking/network:Network::b",
                "diffKeys": ["description"],
            },
            {
                "op": "delete",
                "urn": "urn:pulumi:s::p::openstack:blockstorage/volume:Volume::v",
                "detailedDiff": {"size": {"kind": "update"}},
            },
        ]
    }
    assert changes(doc) == [
        {
            "op": "update",
            "urn": "urn:pulumi:s::p::openstack:networking/network:Network::b",
            "diff": "description",
        },
        {
            "op": "delete",
            "urn": "urn:pulumi:s::p::openstack:blockstorage/volume:Volume::v",
            "diff": "size",
        },
    ]
    assert changes({}) == [] and changes({"steps": None}) == []


def test_refresh_steps_count_only_when_something_differs() -> None:
    urn = "urn:pulumi:s::p::openstack:networking/network:Network::n"
    same = {"outputs": {"description": "a"}}
    doc: dict[str, Any] = {
        "steps": [
            {"op": "refresh", "urn": urn, "oldState": same, "newState": same},
            {
                "op": "refresh",
                "urn": urn + "2",
                "oldState": same,
                "newState": {"outputs": {"description": "b", "tags": []}},
            },
        ],
        "changeSummary": {"same": 1, "update": 1},
    }
    assert changes(doc) == [{"op": "update", "urn": urn + "2", "diff": "description, tags"}]
    # Counted by the engine but not shown in any step: listed without a URN, never dropped.
    doc["changeSummary"] = {"same": 0, "update": 2}
    assert changes(doc)[1] == {"op": "update", "urn": UNNAMED, "diff": ""}


def test_history_lines_never_interleave(tmp_path: Path) -> None:
    history = tmp_path / "sub" / "h.jsonl"
    big = "x" * 100_000

    def writer(n: int) -> None:
        for i in range(20):
            append(history, {"writer": n, "i": i, "pad": big})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = history.read_text().splitlines()
    assert len(lines) == 80 and all(json.loads(x)["pad"] == big for x in lines)
    assert history.stat().st_mode & 0o077 == 0, "the history is private to its owner"


def completed(stdout: str, rc: int = 0, stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess([], rc, stdout, stderr)


def test_engine_failure_is_an_error_not_drift(tmp_path: Path) -> None:
    def run(*args: str, **_: Any) -> subprocess.CompletedProcess[str]:
        return completed("", 255, "error: no stack named 'x' found\n")

    with pytest.raises(DriftError, match="no stack named"):
        detect("x", run, history=tmp_path / "h.jsonl", phases=("refresh",))
    assert not (tmp_path / "h.jsonl").exists(), "no record for a run that could not look"


def test_summary_lists_what_drifted() -> None:
    record = {
        "stack": "s",
        "started": "2026-12-04T00:00:00+00:00",
        "drift": True,
        "phases": {
            "refresh": {"status": "drift", "changes": [{"op": "update", "urn": "u", "diff": "d"}]},
            "policy": {"status": "drift", "mandatory": [{"rule": "r", "urn": "u", "message": "m"}]},
            "hardening": {"status": "skipped", "reason": "no --ssh-key given"},
        },
    }
    text = summary(record)
    assert "update     u (d)" in text and "r: u: m" in text and text.endswith("DRIFT")


def test_cli_refuses_a_bad_stack_before_any_engine_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["drift", "--stack", "nope", "--history", str(tmp_path / "h")]) == 2
    assert "no such stack file" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_checks_ssh_config_jumps_through_the_bastion(tmp_path: Path) -> None:
    from hdh.drift import checks_ssh_config

    doc = {
        "bastion": {"address": "203.0.113.10", "user": "admin"},
        "hosts": [
            {"name": "hdh-bastion", "address": "203.0.113.10", "role": "bastion"},
            {"name": "hdh-services0", "address": "10.20.1.5", "role": "base", "user": "ops"},
            {"name": "hdh-data0", "address": "10.20.16.5", "role": "data-host"},
        ],
    }
    cfg = tmp_path / "ssh_config"
    text = checks_ssh_config(doc, None, "/k/id", None, "yes", cfg)
    blocks = {b.split("\n")[0]: b for b in text.split("\n\n") if b}
    assert f'ProxyCommand ssh -F "{cfg}" -W %h:%p hdh-bastion' in blocks["Host hdh-data0"]
    assert "ProxyCommand" not in blocks["Host hdh-bastion"]
    assert text.count("Host hdh-bastion") == 1
    assert 'User "ops"' in blocks["Host hdh-services0"]
    assert 'User "admin"' in blocks["Host hdh-data0"]  # the inventory's user, else DEPLOY_USER
    assert "StrictHostKeyChecking yes" in text and 'IdentityFile "/k/id"' in text
    with pytest.raises(Exception, match="quote"):
        checks_ssh_config(doc, None, '/k/"id', None, "yes", cfg)
