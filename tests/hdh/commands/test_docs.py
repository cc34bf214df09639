"""The README stays true: its config table is the one Pulumi.yaml's schema generates."""

from ground.paths import ROOT
from hdh import cli
from hdh.commands.docs import render_readme


def test_readme_config_table_is_current() -> None:
    text = (ROOT / "README.md").read_text()
    assert render_readme(text) == text, "run: hdh docs"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"exec {commands[1]}" in ci


def test_hdh_docs_check_finds_every_generated_file_current() -> None:
    assert cli.main(["docs", "--check"]) == 0, "run: hdh docs"
