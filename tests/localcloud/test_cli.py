"""`hdh cloud up` refuses bad options in one line, before it touches anything (unit tier)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ground.paths import ROOT


def _hdh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("hdh")), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--compute", "kvm"), "invalid choice: 'kvm'"),
        (("--compute", "real", "--computes", "2"), "the real compute mode has one host"),
        (("--computes", "0"), "--computes must be between 1 and 8"),
        (("--computes", "x"), "invalid int value"),
    ],
)
def test_bad_options_exit_2_in_one_line(args: tuple[str, ...], message: str) -> None:
    res = _hdh("cloud", "up", *args)
    assert res.returncode == 2, res
    assert message in res.stderr and "Traceback" not in res.stderr
    assert res.stdout == ""


def test_help_names_both_modes() -> None:
    res = _hdh("cloud", "up", "--help")
    assert res.returncode == 0
    assert "{real,fake}" in res.stdout
