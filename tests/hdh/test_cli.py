"""The front door finds the command word after global options and their values."""

from __future__ import annotations

from hdh import cli


def test_the_value_of_a_global_option_is_not_the_command() -> None:
    assert cli._chosen(["--progress", "plain", "env", "list"]) == "env"
    assert cli._chosen(["-v", "--progress", "elapsed", "harden"]) == "harden"
    assert cli._chosen(["plan", "--progress", "plain"]) == "plan"
    assert cli._chosen(["-v"]) is None
