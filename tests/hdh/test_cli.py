"""The front door finds the command word after global options and their values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hdh import cli


def test_the_value_of_a_global_option_is_not_the_command() -> None:
    assert cli._chosen(["--progress", "plain", "env", "list"]) == "env"
    assert cli._chosen(["-v", "--progress", "elapsed", "harden"]) == "harden"
    assert cli._chosen(["plan", "--progress", "plain"]) == "plan"
    assert cli._chosen(["-v"]) is None


def test_plain_progress_lines_are_the_bare_messages(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    assert cli.main(["plan", "--stack", "local", "--json", str(plan)]) == 0
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "hdh.cli",
            "--progress",
            "plain",
            "policy",
            "check",
            "--state",
            str(plan),
            "--output",
            str(tmp_path / "r.txt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0
    assert res.stderr.splitlines()[0].startswith("policy: "), res.stderr
