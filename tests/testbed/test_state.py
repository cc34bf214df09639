"""The testbed's state file outlives checkouts: another version's file never breaks a session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed import state


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HDH_TESTBED_STATE", str(tmp_path))
    return tmp_path


def _write(state_dir: Path, hosts: object) -> None:
    (state_dir / "state.json").write_text(json.dumps({"hosts": hosts}))


PID = 2**22 + 7
PROC: dict[str, object] = {"role": "qemu", "pid": PID, "start": 1, "group": True}


def test_round_trip(state_dir: Path) -> None:
    h = state.HostState("t-c1", "container", 2201, "/k", "img", procs=[state.Proc("nspawn", 1, 2)])
    state.save({"t-c1": h})
    assert state.load() == {"t-c1": h}


def test_fields_of_another_version_are_dropped(
    state_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = {"name": "t-c1", "kind": "container", "port": 2201, "key": "/k", "image": "i"}
    _write(state_dir, {"t-c1": {**rec, "written_by": "v99", "procs": [PROC]}})
    h = state.load()["t-c1"]
    assert (h.port, h.image, h.foreign) == (2201, "i", False)
    assert h.procs == [state.Proc("qemu", PID, 1, True)]
    assert "written_by" in caplog.text


def test_a_record_missing_fields_is_kept_for_teardown_only(state_dir: Path) -> None:
    _write(state_dir, {"t-vm": {"name": "t-vm", "kind": "vm", "netns": "ns1", "procs": [PROC]}})
    h = state.load()["t-vm"]
    assert h.foreign and not h.running()  # the next `up` cleans it and starts afresh
    assert (h.netns, [p.pid for p in h.procs]) == ("ns1", [PID])


@pytest.mark.parametrize("body", ["", "[]", '{"hosts": 3}', '{"hosts": {"x": 1}}', "{"])
def test_unreadable_files_track_nothing(state_dir: Path, body: str) -> None:
    (state_dir / "state.json").write_text(body)
    assert state.load() == {}


def test_bad_process_records_are_skipped(state_dir: Path) -> None:
    rec = {"name": "t-c1", "kind": "container", "port": 1, "key": "/k", "image": "i"}
    _write(state_dir, {"t-c1": {**rec, "procs": [{"pid": "x"}, PROC]}})
    assert [p.pid for p in state.load()["t-c1"].procs] == [PID]
