"""`hdh backup`: bad input is one line and exit 2, before any cloud is contacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hdh import cli

INVENTORY = {
    "inventory": {
        "stack": "s",
        "hosts": [],
        "backups": {
            "kind": "cinder-backup",
            "region": "RegionOne",
            "volumes": [{"name": "bubble-a", "id": "v", "tier": "bubble"}],
        },
    }
}


def write(tmp_path: Path, doc: object) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(doc))
    return str(path)


@pytest.mark.parametrize(
    ("argv", "doc", "message"),
    [
        (["drill"], {"inventory": {"stack": "s", "hosts": []}}, "no backups section"),
        (["drill", "--volume", "nope"], INVENTORY, "'nope' is not backed up"),
        (["drill", "--expect-sha256", "abc"], INVENTORY, "64 hexadecimal digits"),
        (["run"], INVENTORY, "no secret for the backup credential"),
        (["drill"], [1, 2], "expected the stack outputs"),
    ],
)
def test_bad_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    doc: object,
    message: str,
) -> None:
    monkeypatch.delenv("HDH_BACKUP_CREDENTIAL_SECRET", raising=False)
    code = cli.main(["backup", argv[0], "--inventory", write(tmp_path, doc), *argv[1:]])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err


def test_unreadable_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backup", "drill", "--inventory", "/nonexistent.json"]) == 2
    assert "cannot read" in capsys.readouterr().err
