"""The XCCDF results parser, on a real (trimmed) oscap result of a testbed container."""

from pathlib import Path

import pytest

from testbed.proc import TestbedError
from testbed.scap import INTERMEDIARY, full_profile, parse_results, short_profile

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "results-container-intermediary.xml"


def test_counts_score_and_profile() -> None:
    res = parse_results(FIXTURE, host="hdh-tb-c1", kind="container")
    assert res.profile == INTERMEDIARY
    assert res.score == pytest.approx(56.404758)
    assert res.score_max == 100.0
    counts = res.counts
    # 7 rule results in the file, one of them notselected: it is not counted at all.
    assert (counts["pass"], counts["fail"], counts["notapplicable"], counts["notchecked"]) == (
        2,
        2,
        1,
        1,
    )
    assert sum(counts.values()) == 6
    assert "kernel_config_default_mmap_min_addr" not in {r.rule for r in res.rules}


def test_rules_carry_anssi_r_numbers_in_numeric_order() -> None:
    rules = {r.rule: r for r in parse_results(FIXTURE).rules}
    assert rules["package_aide_installed"].anssi == ("R76", "R79")
    assert rules["accounts_password_pam_minlen"].anssi == ("R31", "R68")
    assert rules["accounts_password_pam_minlen"].result == "fail"
    assert rules["accounts_password_pam_minlen"].title.startswith("Ensure PAM Enforces")
    assert rules["security_patches_up_to_date"].result == "notchecked"


def test_failed_and_summary() -> None:
    res = parse_results(FIXTURE, host="hdh-tb-c1", kind="container")
    assert {r.rule for r in res.failed()} == {"aide_build_database", "accounts_password_pam_minlen"}
    assert res.summary().startswith(
        "hdh-tb-c1 (container) anssi_bp28_intermediary: score 56.40/100, 2 pass, 2 fail"
    )


def test_host_defaults_to_the_target_in_the_file() -> None:
    assert parse_results(FIXTURE).host == "hdh-tb-c1"


def test_not_a_results_file_names_the_step(tmp_path: Path) -> None:
    bad = tmp_path / "x.xml"
    bad.write_text("<nothing/>")
    with pytest.raises(TestbedError, match="parse results: no XCCDF TestResult"):
        parse_results(bad, host="hdh-tb-c9")
    bad.write_text("not xml")
    with pytest.raises(TestbedError, match="hdh-tb-c9: parse results"):
        parse_results(bad, host="hdh-tb-c9")


def test_profile_names() -> None:
    assert full_profile("anssi_bp28_enhanced").endswith("content_profile_anssi_bp28_enhanced")
    assert full_profile(INTERMEDIARY) == INTERMEDIARY
    assert short_profile(INTERMEDIARY) == "anssi_bp28_intermediary"
