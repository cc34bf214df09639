"""`hdh plan` through the CLI's own main(): the summary, the pack over the plan, exit codes."""

from __future__ import annotations

import pytest

from hdh import cli


def test_plan_runs_the_pack(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", "--stack", "ovh-gra"]) == 0
    out = capsys.readouterr().out
    assert out.index("By type:") < out.index("Policy pack:") and "PASSED" in out
    assert cli.main(["plan", "--stack", "ovh-gra", "--no-policy"]) == 0
    assert "Policy pack" not in capsys.readouterr().out


def test_plan_exits_1_on_a_mandatory_violation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A security team narrowing the allowed regions (the pack's defaults, as a config would).
    from policies.config import defaults

    monkeypatch.setitem(defaults(), "allowedRegions", ["SBG5"])
    assert cli.main(["plan", "--stack", "ovh-gra"]) == 1
    out = capsys.readouterr().out
    assert "provider-region-eu" in out and "region GRA11 is not an allowed EU region" in out
    assert cli.main(["plan", "--stack", "ovh-gra", "--no-policy"]) == 0
