"""The XCCDF tailoring of SSG's BP-028 profiles: data checked, values from the hardening data,
ids checked against a data stream, rendering, CLI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from ground.errors import ConfigErrors
from hardening import data, tailoring
from hdh import cli

X = tailoring.X
VALUE = tailoring.SSG_VALUE
RULE = tailoring.SSG_RULE


def stream(tmp_path: Path, *, values: dict[str, str], rules: list[str]) -> Path:
    """A minimal data stream: both default base profiles, the given values (id: type), rules
    (each exporting every value, so `explanations` can map them)."""
    profiles = "".join(
        f'<Profile id="{tailoring.SSG_PROFILE}{p}"/>' for p in tailoring.DEFAULT_PROFILES
    )
    vals = "".join(f'<Value id="{VALUE}{v}" type="{t}"/>' for v, t in values.items())
    exports = "".join(f'<check-export export-name="e" value-id="{VALUE}{v}"/>' for v in values)
    body = "".join(
        f'<Rule id="{RULE}{r}"><check system="oval">{exports}</check></Rule>' for r in rules
    )
    path = tmp_path / "ds.xml"
    path.write_text(
        f'<Benchmark xmlns="{tailoring.XCCDF_NS}" id="b">{profiles}{vals}'
        f'<Group id="g">{body}</Group></Benchmark>'
    )
    return path


@pytest.fixture
def ds(tmp_path: Path) -> Path:
    values, deselect = tailoring.tailoring()
    types = {"var_postfix_root_mail_alias": "string", "var_sudo_dedicated_group": "string"}
    return stream(
        tmp_path,
        values={v.var: types.get(v.var, "number") for v in values},
        rules=[d.rule for d in deselect] + ["some_rule"],
    )


def test_data_file_is_valid_and_values_come_from_the_hardening_data() -> None:
    assert tailoring.problems() == []
    values, deselect = tailoring.tailoring()
    by_var = {v.var: v for v in values}
    rounds = by_var["var_password_pam_unix_rounds"]
    assert rounds.value("intermediary") == str(
        data.baseline("accounts", "intermediary")["pam_unix.rounds"].value
    )
    assert rounds.value("minimal") is None  # not set at that level: SSG's value stays
    assert by_var["var_postfix_root_mail_alias"].value("intermediary") == "hdh-admins"
    assert by_var["sysctl_net_ipv4_conf_all_arp_filter_value"].value("intermediary") == "1"
    assert [d.rule for d in deselect] == ["aide_build_database"]
    assert all(d.upstream.startswith("https://github.com/ComplianceAsCode/") for d in deselect)


def test_render_extends_the_base_profiles_and_only_sets_values_and_unselects(ds: Path) -> None:
    text = tailoring.render(datastream=ds)
    root = ET.fromstring(text)
    assert root.tag == f"{X}Tailoring" and root.get("id") == tailoring.TAILORING_ID
    version = root.find(f"{X}version")
    assert version is not None and version.get("time") and version.text == tailoring.version(text)
    profiles = root.findall(f"{X}Profile")
    assert [p.get("id") for p in profiles] == [
        "xccdf_org.hdh-platform_profile_anssi_bp28_intermediary_hdh",
        "xccdf_org.hdh-platform_profile_anssi_bp28_enhanced_hdh",
    ]
    for prof in profiles:
        assert prof.get("extends", "").startswith(tailoring.SSG_PROFILE)
        kinds = {el.tag for el in prof} - {f"{X}title", f"{X}description"}
        assert kinds == {f"{X}select", f"{X}set-value"}
        assert all(s.get("selected") == "false" for s in prof.iter(f"{X}select"))
        sets = {s.get("idref", "").removeprefix(VALUE): s.text for s in prof.iter(f"{X}set-value")}
        assert sets["var_password_pam_unix_rounds"] == "8"
    # Same content, same version (the cache key), whatever the render time.
    assert tailoring.version(tailoring.render(datastream=ds)) == tailoring.version(text)


def test_ids_are_checked_against_the_data_stream(tmp_path: Path) -> None:
    bad = stream(tmp_path, values={"var_password_pam_unix_rounds": "number"}, rules=["other_rule"])
    with pytest.raises(ConfigErrors) as exc:
        tailoring.render(datastream=bad)
    msgs = exc.value.lines()
    assert any("values.var_postfix_root_mail_alias: no such value in SSG" in m for m in msgs)
    assert any("deselect.aide_build_database: no such rule in SSG" in m for m in msgs)
    assert all(m.startswith(tailoring.PATH) for m in msgs)
    with pytest.raises(ConfigErrors, match="no such BP-028 profile"):
        tailoring.check_against(bad, ["anssi_bp28_nonexistent"])


def test_a_non_numeric_value_for_a_number_variable_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = stream(tmp_path, values={"var_postfix_root_mail_alias": "number"}, rules=[])
    doc: dict[str, Any] = {
        "values": {
            "var_postfix_root_mail_alias": {
                "setting": "services/aliases.root",
                "control": "R75",
                "why": "x",
            }
        }
    }
    real = data.load
    monkeypatch.setattr(data, "load", lambda name: doc if name == tailoring.FILE else real(name))
    tailoring.tailoring.cache_clear()
    try:
        with pytest.raises(ConfigErrors, match="'hdh-admins' is not a number"):
            tailoring.check_against(ds, ["anssi_bp28_intermediary"])
    finally:
        tailoring.tailoring.cache_clear()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"extra": {}}, "extra: unknown section"),
        ({"values": {"v": {"setting": "accounts/x"}}}, "values.v: needs exactly setting"),
        (
            {"values": {"v": {"setting": "nope/x", "control": "R68", "why": "w"}}},
            "is not <area>/<key> of a hardening area",
        ),
        (
            {"values": {"v": {"setting": "accounts/no.such", "control": "R68", "why": "w"}}},
            "no such key in hardening/data/accounts.yaml",
        ),
        (
            {
                "values": {
                    "v": {"setting": "accounts/pam_unix.rounds", "control": "R99", "why": "w"}
                }
            },
            "control 'R99' is not an R-number",
        ),
        (
            {
                "deselect": {
                    "r": {"control": "R79", "why": "w", "upstream": "http://x", "checked_by": "x"}
                }
            },
            "upstream must be the https address",
        ),
        (
            {
                "deselect": {
                    "r": {
                        "control": "R79",
                        "why": "w",
                        "upstream": "https://x",
                        "checked_by": "tests/hardening/checks/test_integrity.py::test_nope",
                    }
                }
            },
            "no test test_nope in tests/hardening/checks/test_integrity.py",
        ),
    ],
)
def test_malformed_data_names_the_file_and_key(
    monkeypatch: pytest.MonkeyPatch, doc: dict[str, Any], message: str
) -> None:
    real = data.load
    monkeypatch.setattr(data, "load", lambda name: doc if name == tailoring.FILE else real(name))
    got = [str(e) for e in tailoring.problems()]
    assert any(m.startswith(f"{tailoring.PATH}: ") and message in m for m in got), got


def test_explanations_cover_rules_of_tailored_values_and_deselected_rules(ds: Path) -> None:
    why = tailoring.explanations(ds)
    assert why["aide_build_database"].why.startswith("deselected: ")
    assert why["some_rule"].category == "deliberate-deviation"  # exports a tailored value
    assert why["some_rule"].why.startswith("tailored: ")


def test_cli(tmp_path: Path, ds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.xml"
    assert cli.main(["tailoring", "--datastream", str(ds), "--out", str(out)]) == 0
    assert ET.parse(out).getroot().tag == f"{X}Tailoring"
    assert cli.main(["tailoring", "--profile", "anssi_bp28_minimal", "--datastream", str(ds)]) == 2
    assert "no such BP-028 profile" in capsys.readouterr().err
    assert cli.main(["tailoring", "--datastream", str(tmp_path / "missing.xml")]) == 2
    assert "no such data stream file" in capsys.readouterr().err
    assert cli.main(["tailoring", "--list"]) == 0
    assert '"aide_build_database"' in capsys.readouterr().out


def test_profile_names() -> None:
    assert tailoring.tailored_id("anssi_bp28_enhanced") == tailoring.tailored_id(
        tailoring.SSG_PROFILE + "anssi_bp28_enhanced"
    )
    assert tailoring.base_name(tailoring.tailored_id("anssi_bp28_high")) == "anssi_bp28_high"
    assert tailoring.is_tailored("anssi_bp28_intermediary_hdh")
    assert not tailoring.is_tailored(tailoring.SSG_PROFILE + "anssi_bp28_intermediary")
