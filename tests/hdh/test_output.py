"""Output paths are checked before any work: one line, exit 2, nothing planned or run."""

from __future__ import annotations

from pathlib import Path

import pytest

from hdh import cli


@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "--stack", "ovh-gra", "--json", "{tmp}"],
        ["plan", "--stack", "ovh-gra", "--json", "{tmp}/file/below-a-file.json"],
        ["k8s", "manifests", "--stack", "ovh-sbg", "--out", "{tmp}/file/dir"],
        ["tailoring", "--out", "{tmp}"],
    ],
)
def test_unwritable_outputs_exit_2_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    (tmp_path / "file").write_text("")
    code = cli.main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "resources" not in err, err
    assert len([line for line in err.splitlines() if "--" in line]) == 1, err
