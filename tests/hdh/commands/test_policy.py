"""`hdh policy check` through the CLI's own main(): formats, exit codes 0/1/2, hostile input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hdh import cli
from policies.pack import RULES
from tests.policies.formats import FORMATS, load

RULES_DIR = Path(__file__).parents[2] / "policies" / "rules"
VOLUMES = load(RULES_DIR / "volume-encrypted-type" / "profile-defaults.yaml")


def check(tmp_path: Path, doc: Any, *extra: str) -> tuple[int, str]:
    state = tmp_path / "state.json"
    state.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    out = tmp_path / "report"
    code = cli.main(["policy", "check", "--state", str(state), "--output", str(out), *extra])
    return code, out.read_text() if out.exists() else ""


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_violations_exit_1_with_every_urn_in_json(tmp_path: Path, fmt: str) -> None:
    code, report = check(tmp_path, FORMATS[fmt](VOLUMES), "--format", "json")
    assert code == 1
    doc = json.loads(report)
    failing = {r["name"] for r in VOLUMES["resources"] if r["name"].startswith("fail-")}
    volume = [v for v in doc["violations"] if v["rule"] == "volume-encrypted-type"]
    assert {v["urn"].rsplit("::", 1)[-1] for v in volume} == failing
    for v in doc["violations"]:
        assert set(v) == {"rule", "urn", "severity", "enforcement", "message"}
        assert v["urn"].startswith("urn:pulumi:")
    assert doc["summary"]["mandatory"] >= len(failing) and doc["summary"]["passed"] is False


def test_clean_state_exits_0(tmp_path: Path) -> None:
    doc = FORMATS["stack-export"](
        {"resources": [r for r in VOLUMES["resources"] if r["name"].startswith("pass-")]}
    )
    code, report = check(tmp_path, doc, "--rule", "volume-encrypted-type")
    assert code == 0 and "PASSED" in report


def test_advisory_only_exits_0(tmp_path: Path) -> None:
    doc = FORMATS["stack-export"](load(RULES_DIR / "image-allowed" / "images.yaml"))
    code, report = check(tmp_path, doc, "--rule", "image-allowed")
    assert code == 0 and "[advisory]" in report and "fail-ubuntu" in report


def test_config_can_downgrade_and_tune(tmp_path: Path) -> None:
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"volume-encrypted-type": "advisory"}))
    code, _ = check(tmp_path, FORMATS["stack-export"](VOLUMES), "--config", str(config))
    assert code == 0
    config.write_text(json.dumps({"encryptedVolumeTypes": ["high-speed", "__DEFAULT__"]}))
    code, report = check(
        tmp_path,
        FORMATS["stack-export"](VOLUMES),
        "--config",
        str(config),
        "--rule",
        "volume-encrypted-type",
        "--format",
        "json",
    )
    flagged = {v["urn"].rsplit("::", 1)[-1] for v in json.loads(report)["violations"]}
    assert flagged == {"pass-ovh-luks", "pass-scs-luks"}  # the tuned list, not the profiles'


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{", "not JSON"),
        ("[]", "top level not an object"),
        ('{"hello": 1}', "unrecognised"),
        ('{"version": 2, "deployment": {}}', "only 3"),
        ('{"version": 3, "deployment": {"resources": [{"urn": "x"}]}}', "malformed"),
        ('{"steps": [{"newState": {"urn": "u"}}]}', "malformed"),
        ('{"format": "hdh-plan/v1", "resources": []}', "malformed"),
    ],
)
def test_bad_input_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, why: str
) -> None:
    code, _ = check(tmp_path, content)
    err = capsys.readouterr().err
    assert code == 2 and why in err and "Traceback" not in err


def test_missing_file_and_bad_config_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["policy", "check", "--state", str(tmp_path / "none.json")]) == 2
    config = tmp_path / "c.json"
    config.write_text('{"noSuchKey": 1}')
    code, _ = check(tmp_path, FORMATS["plan"](VOLUMES), "--config", str(config))
    assert code == 2 and "noSuchKey" in capsys.readouterr().err
    assert cli.main(["policy", "check", "--state", "x", "--rule", "no-such-rule"]) == 2


def test_every_rule_id_is_selectable(tmp_path: Path) -> None:
    selected = [arg for rule in RULES for arg in ("--rule", rule)]
    code, report = check(tmp_path, FORMATS["preview"](VOLUMES), *selected)
    assert code == 1 and "volume-encrypted-type" in report


# ---------------------------------------------------------------- hostile inputs (issue 19)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (json.dumps(FORMATS["stack-export"](VOLUMES)).encode("utf-16"), "UTF-16"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
        (b'{"version": 3, "deployment": {"resources": [{"urn": 1, "type": "t"}]}}', "urn"),
        (
            b'{"version": 3, "deployment": {"resources": [{"urn": "u", "type": "t", '
            b'"inputs": [1]}]}}',
            "inputs and outputs must be objects",
        ),
        (
            b'{"steps": [{"newState": {"urn": "u", "type": "t", '
            b'"propertyDependencies": {"a": "not-a-list"}}}]}',
            "propertyDependencies",
        ),
    ],
)
def test_hostile_state_files_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: bytes, why: str
) -> None:
    state = tmp_path / "state.json"
    state.write_bytes(data)
    assert cli.main(["policy", "check", "--state", str(state)]) == 2
    err = capsys.readouterr().err
    assert why in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("config", "why"),
    [
        ({"allowedRegions": "GRA11"}, "allowedRegions: expected a list of strings"),
        ({"bastionCidrs": [1]}, "expected a list of strings"),
        ({"allowTestRegions": "yes"}, "expected true or false"),
        ({"provider-region-eu": {"allowedEndpoints": ["https://x"]}}, "expected an object"),
        ({"provider-region-eu": {"allowedEndpoints": {"https://x": "GRA11"}}}, "https://x"),
        ({"provider-region-eu": {"noSuchKey": 1}}, "not a config key"),
        ({"all": 3}, "all: expected one of"),
        ({"volume-encrypted-type": {"enforcementLevel": "off"}}, "enforcementLevel"),
    ],
)
def test_wrong_types_in_config_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: Any, why: str
) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(config))
    code, report = check(tmp_path, FORMATS["stack-export"](VOLUMES), "--config", str(path))
    err = capsys.readouterr().err
    assert code == 2 and why in err and not report and "Traceback" not in err


def test_unwritable_output_exits_2_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(FORMATS["stack-export"](VOLUMES)))
    for out in (tmp_path, Path("/proc/hdh-report"), tmp_path / "file" / "below-a-file"):
        (tmp_path / "file").write_text("")
        code = cli.main(["policy", "check", "--state", str(state), "--output", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and "--output" in err and "Traceback" not in err, err


def test_credentials_in_a_provider_url_are_never_echoed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = {
        "name": "prov",
        "type": "pulumi:providers:openstack",
        "props": {"region": "GRA11", "authUrl": "https://admin:hunter2@auth.example/v3"},
    }
    for fmt in ("text", "json", "sarif", "junit", "markdown"):
        code, report = check(
            tmp_path, FORMATS["stack-export"]({"resources": [provider]}), "--format", fmt
        )
        assert code == 1 and "credentials" in report
        assert "hunter2" not in report + capsys.readouterr().err, fmt
