"""Inventory from stack outputs: roles, bastion jump, errors that name the file and key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ground.errors import ConfigErrors, InputError
from hardening.inventory import build, load_outputs, ssh_config

OUTPUTS = {
    "inventory": {
        "bastion": {"address": "203.0.113.10"},
        "hosts": [
            {"name": "bastion-0", "address": "203.0.113.10", "role": "bastion", "tier": "admin"},
            {"name": "k8s-0", "address": "10.40.0.11", "role": "k8s-worker", "tier": "processing"},
            {
                "name": "ws-a-0",
                "address": "10.60.1.5",
                "role": "workspace",
                "tier": "processing",
                "bubble": "a",
            },
        ],
    }
}


def write(tmp_path: Path, doc: object, name: str = "outputs.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_hosts_reached_through_the_bastion(tmp_path: Path) -> None:
    doc = load_outputs(write(tmp_path, OUTPUTS))
    hosts = build(doc, tmp_path / "w", user="deploy", key="/keys/id")
    assert [h for h, _ in hosts] == ["bastion-0", "k8s-0", "ws-a-0"]
    data = dict(hosts)
    assert data["ws-a-0"]["hdh_role"] == "workspace" and data["ws-a-0"]["hdh_bubble"] == "a"
    # Every host connects to its own block of one ssh_config, by name (HostName there).
    assert data["k8s-0"]["ssh_hostname"] == "k8s-0" and data["k8s-0"]["ssh_port"] == 22
    assert data["k8s-0"]["ssh_key"] == "/keys/id"
    assert {d["ssh_config_file"] for d in data.values()} == {str(tmp_path / "w" / "ssh_config")}
    cfg = (tmp_path / "w" / "ssh_config").read_text()
    blocks = {b.split("\n")[0]: b for b in cfg.split("\n\n") if b.strip()}
    # Only the hosts behind the bastion jump; the jump host itself is direct.
    for name, addr in (("k8s-0", "10.40.0.11"), ("ws-a-0", "10.60.1.5")):
        assert f'HostName "{addr}"' in blocks[f"Host {name}"]
        assert "ProxyJump hdh-bastion" in blocks[f"Host {name}"]
    assert "ProxyJump" not in blocks["Host bastion-0"] + blocks["Host hdh-bastion"]
    assert 'HostName "203.0.113.10"' in blocks["Host hdh-bastion"]
    assert 'IdentityFile "/keys/id"' in blocks["Host hdh-bastion"]


def test_role_filter(tmp_path: Path) -> None:
    doc = load_outputs(write(tmp_path, OUTPUTS))
    assert [h for h, _ in build(doc, tmp_path, role="k8s-worker")] == ["k8s-0"]


def test_no_bastion_means_direct(tmp_path: Path) -> None:
    doc = {"hosts": [{"name": "c1", "address": "127.0.0.1", "port": 2201, "role": "base"}]}
    cfg = ssh_config(doc, "deploy", None)
    assert "ProxyJump" not in cfg and "Host c1\n" in cfg and 'HostName "127.0.0.1"' in cfg
    ((name, data),) = build(doc, tmp_path)
    assert (name, data["ssh_hostname"], data["ssh_port"]) == ("c1", "c1", 2201)


def test_bastion_and_a_host_behind_it_may_share_an_address(tmp_path: Path) -> None:
    # A bastion on a forwarded port of 127.0.0.1 and a host behind it at 127.0.0.1:22 (from
    # the bastion's side): keyed by address, the bastion would jump through itself.
    doc = {
        "bastion": {"name": "b", "address": "127.0.0.1", "port": 2201},
        "hosts": [
            {"name": "b", "address": "127.0.0.1", "port": 2201, "role": "bastion"},
            {"name": "svc", "address": "127.0.0.1", "port": 22, "role": "base"},
        ],
    }
    blocks = {b.split("\n")[0]: b for b in ssh_config(doc, "deploy", None).split("\n\n") if b}
    assert "ProxyJump" not in blocks["Host hdh-bastion"] + blocks["Host b"]
    assert "ProxyJump hdh-bastion" in blocks["Host svc"] and "Port 22" in blocks["Host svc"]


def test_bad_inventory_names_file_and_key(tmp_path: Path) -> None:
    bad = {
        "bastion": {},
        "hosts": [
            {"name": "x", "address": "10.0.0.1", "role": "mainframe"},
            {"name": "x", "role": "base"},
        ],
    }
    path = write(tmp_path, bad)
    with pytest.raises(ConfigErrors) as err:
        load_outputs(path)
    lines = err.value.lines()
    assert f"{path}: bastion.address: missing" in lines
    assert any(line.startswith(f"{path}: hosts[0].role: unknown role") for line in lines)
    assert f"{path}: hosts[1].address: missing" in lines
    assert f"{path}: hosts[1].name: duplicate host name" in lines


def test_unreadable_or_wrong_shape(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_outputs(tmp_path / "absent.json")
    with pytest.raises(InputError, match="hosts"):
        load_outputs(write(tmp_path, {"bastion": {"address": "x"}}))


def harden_args(*argv: str) -> object:
    import argparse

    from hdh.commands import harden

    p = argparse.ArgumentParser()
    harden.add_parser(p.add_subparsers(dest="command"))
    return p.parse_args(["harden", *argv])


def test_cli_bad_input_is_a_user_error(tmp_path: Path) -> None:
    from ground.errors import HdhError
    from hdh.commands.harden import run

    with pytest.raises(HdhError) as err:  # hdh.cli prints its lines and exits 2
        run(harden_args("--inventory", str(tmp_path / "absent.yaml")))  # type: ignore[arg-type]
    assert err.value.exit_code == 2 and "cannot read inventory" in err.value.lines()[0]


def test_cli_log_options_are_checked_before_connecting(tmp_path: Path) -> None:
    from ground.errors import InputError
    from hdh.commands.harden import log_data

    inv = "out.json"
    ca = tmp_path / "ca.pem"
    with pytest.raises(InputError, match="expected HOST:PORT"):
        log_data(harden_args("--inventory", inv, "--log-remote", "logs"))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="give --log-remote"):
        log_data(harden_args("--inventory", inv, "--log-remote-ca", str(ca)))  # type: ignore[arg-type]
    args = harden_args("--inventory", inv, "--log-remote", "logs:6514", "--log-remote-ca", str(ca))
    with pytest.raises(InputError, match=r"ca\.pem: cannot read"):
        log_data(args)  # type: ignore[arg-type]
    ca.write_text("not a certificate")
    with pytest.raises(InputError, match="not a PEM certificate"):
        log_data(args)  # type: ignore[arg-type]
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    assert log_data(args) == {"log_remote": "logs:6514", "log_remote_ca": str(ca.resolve())}  # type: ignore[arg-type]


def test_cli_module_registers_harden() -> None:
    from hdh.commands import harden

    args = harden_args("--inventory", "out.json", "--role", "bastion", "--check")
    assert args.run is harden.run and args.check and args.role == "bastion"  # type: ignore[attr-defined]


def test_the_platform_inventory_output_is_accepted(tmp_path: Path) -> None:
    """The `inventory` output of a real plan (k8s stack) loads: platform roles are mapped."""
    from hdh.plan import plan_stack

    inv = plan_stack("ovh-sbg").outputs["inventory"]
    inv["bastion"]["address"] = "192.0.2.10"
    for i, h in enumerate(inv["hosts"]):
        h["address"] = f"10.0.{i // 250}.{i % 250 + 1}"
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"inventory": inv}))
    doc = load_outputs(path)
    roles = {h["platform_role"]: h["role"] for h in doc["hosts"] if "platform_role" in h}
    assert roles == {
        "services": "services",
        "data": "data-host",
        "k8s-control": "k8s-control",
        "k8s-worker": "k8s-worker",
    }
    hosts = build(doc, tmp_path / "work", key="/dev/null")
    assert len(hosts) == len(inv["hosts"])


def test_kubernetes_nodes_get_their_firewall_sources(tmp_path: Path) -> None:
    hosts = [
        {"name": "cp0", "address": "10.30.32.10", "role": "k8s-control"},
        {"name": "cp1", "address": "10.30.32.11", "role": "k8s-control"},
        {"name": "w0", "address": "10.30.32.20", "role": "k8s-worker"},
        {"name": "db", "address": "10.30.16.5", "role": "data"},
    ]
    clients = ["10.30.0.0/24", "10.30.32.0/19"]
    doc = load_outputs(
        write(tmp_path, {"inventory": {"hosts": hosts, "kubernetes": {"apiClients": clients}}})
    )
    data = dict(build(doc, tmp_path / "w"))
    assert data["w0"]["hdh_k8s_sources"] == {
        "control-plane": ["10.30.32.10", "10.30.32.11"],
        "nodes": ["10.30.32.10", "10.30.32.11", "10.30.32.20"],
        "api-clients": clients,
    }
    assert "hdh_k8s_sources" not in data["db"]


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda inv: inv["hosts"][0].update(address="cp0.example"), "hosts[0].address"),
        (
            lambda inv: inv.update(kubernetes={"apiClients": ["10.0.0.0/8", "any"]}),
            "kubernetes.apiClients[1]",
        ),
        (lambda inv: inv.update(kubernetes={"apiClients": "10.0.0.0/8"}), "kubernetes.apiClients"),
    ],
)
def test_kubernetes_sources_are_checked(tmp_path: Path, edit: Any, key: str) -> None:
    inv = {"hosts": [{"name": "cp0", "address": "10.30.32.10", "role": "k8s-control"}]}
    edit(inv)
    with pytest.raises(ConfigErrors) as exc:
        load_outputs(write(tmp_path, {"inventory": inv}))
    assert any(f": {key}: " in line for line in exc.value.lines()), exc.value.lines()


# ---------------------------------------------------------------- hostile inventories (issue 19)

PWNED = "touch {marker}"
INJECTIONS = [
    "10.0.0.1\n  ProxyCommand {cmd}",
    "10.0.0.1\nHost *\n  ProxyCommand {cmd}",
    "-oProxyCommand={cmd}",
    "10.0.0.1 -oProxyCommand={cmd}",
    '10.0.0.1"\n  ProxyCommand {cmd}',
    "%h\n  ProxyCommand {cmd}",
    '10.0.0.1\r\n  Match exec "{cmd}"',
    "user:password@10.0.0.1",
    "",
]


def _hostile(field: str, value: object, where: str = "host") -> dict[str, object]:
    host: dict[str, object] = {"name": "h1", "address": "10.0.0.5", "role": "base"}
    bastion: dict[str, object] = {"address": "203.0.113.10"}
    doc: dict[str, object] = {"bastion": bastion, "hosts": [host]}
    {"host": host, "bastion": bastion, "top": doc}[where][field] = value
    return doc


@pytest.mark.parametrize("where", ["host", "bastion"])
@pytest.mark.parametrize("template", INJECTIONS)
def test_injected_address_is_refused_before_anything_runs(
    tmp_path: Path, where: str, template: str
) -> None:
    marker = tmp_path / "pwned"
    value = template.format(cmd=PWNED.format(marker=marker))
    path = write(tmp_path, _hostile("address", value, where))
    with pytest.raises(ConfigErrors) as err:
        load_outputs(path)
    key = "hosts[0].address" if where == "host" else "bastion.address"
    assert any(f": {key}: " in line for line in err.value.lines()), err.value.lines()
    assert "ProxyCommand" not in str(err.value) and "password" not in str(err.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("field", "value", "where", "key"),
    [
        ("port", "22\n  ProxyCommand id", "host", "hosts[0].port"),
        ("port", "22", "host", "hosts[0].port"),
        ("port", True, "host", "hosts[0].port"),
        ("port", 0, "host", "hosts[0].port"),
        ("port", 65536, "bastion", "bastion.port"),
        ("port", 22.5, "bastion", "bastion.port"),
        ("user", "deploy\n  ProxyCommand id", "host", "hosts[0].user"),
        ("user", "-oProxyCommand=id", "bastion", "bastion.user"),
        ("user", "Deploy", "top", "user"),
        ("user", "de ploy", "top", "user"),
        ("user", "a" * 33, "host", "hosts[0].user"),
        ("name", "@local", "host", "hosts[0].name"),
        ("name", "@ssh/10.0.0.9", "host", "hosts[0].name"),
        ("name", "h1\n  ProxyCommand id", "host", "hosts[0].name"),
        ("name", "-h1", "host", "hosts[0].name"),
        ("tier", "admin\nx", "host", "hosts[0].tier"),
        ("bubble", ["a"], "host", "hosts[0].bubble"),
    ],
)
def test_every_field_is_checked(
    tmp_path: Path, field: str, value: object, where: str, key: str
) -> None:
    path = write(tmp_path, _hostile(field, value, where))
    with pytest.raises(ConfigErrors) as err:
        load_outputs(path)
    assert [line.split(": ")[1] for line in err.value.lines()] == [key]
    assert "ProxyCommand" not in str(err.value)


def test_cli_check_refuses_an_injection_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hdh import cli

    marker = tmp_path / "pwned"
    value = f"10.0.0.1\n  ProxyCommand touch {marker}"
    path = write(tmp_path, {"inventory": _hostile("address", value)})
    code = cli.main(["harden", "--inventory", str(path), "--check", "--host-key-check", "no"])
    err = capsys.readouterr().err
    assert code == 2 and "hosts[0].address: not a host or IP" in err
    assert "Traceback" not in err and "checking" not in err  # nothing was connected to
    assert not marker.exists()


def test_cli_checks_key_and_output_path_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hdh import cli

    path = write(tmp_path, {"hosts": [{"name": "h", "address": "127.0.0.1", "role": "base"}]})
    code = cli.main(["harden", "--inventory", str(path), "--ssh-key", str(tmp_path / "absent")])
    assert code == 2 and "--ssh-key" in capsys.readouterr().err
    pub = tmp_path / "id.pub"
    pub.write_text("ssh-ed25519 AAAA example\n")
    assert cli.main(["harden", "--inventory", str(path), "--ssh-key", str(pub)]) == 2
    assert "not a private key" in capsys.readouterr().err
    code = cli.main(["harden", "--inventory", str(path), "--json", str(tmp_path)])
    assert code == 2 and "is a directory" in capsys.readouterr().err
    code = cli.main(["harden", "--inventory", str(path), "--ssh-user", "root\nProxyCommand x"])
    err = capsys.readouterr().err
    assert code == 2 and "--ssh-user: not a user name" in err and "checking" not in err


def test_paths_in_the_ssh_config_are_quoted_or_refused(tmp_path: Path) -> None:
    doc = load_outputs(write(tmp_path, OUTPUTS))
    build(doc, tmp_path / "ok", key="/keys/my key")
    assert 'IdentityFile "/keys/my key"' in (tmp_path / "ok" / "ssh_config").read_text()
    for bad in ('/keys/id"\n  ProxyCommand id', "/keys/%d/id", "/keys/id\x00"):
        with pytest.raises(InputError):
            build(doc, tmp_path / "bad", key=bad)
    assert not (tmp_path / "bad" / "ssh_config").exists()


_ALLOWED_SSH_KEYS = {
    "hostname",
    "port",
    "user",
    "identityfile",
    "identitiesonly",
    "userknownhostsfile",
    "stricthostkeychecking",
    "proxyjump",
}


@settings(max_examples=300)
@given(
    address=st.one_of(st.text(max_size=40), st.ip_addresses().map(str)),
    user=st.one_of(st.none(), st.text(max_size=40), st.from_regex(r"[a-z][a-z0-9_-]{0,8}")),
    port=st.one_of(st.none(), st.integers(-5, 70000), st.text(max_size=8), st.booleans()),
    name=st.text(max_size=20),
)
def test_any_accepted_inventory_yields_only_our_ssh_options(
    tmp_path_factory: pytest.TempPathFactory, address: str, user: Any, port: Any, name: str
) -> None:
    """Property: whatever the fields, an inventory is refused, or its ssh_config gives every
    host exactly the options we write (no ProxyCommand, Match, Include, ...)."""
    import paramiko

    host: dict[str, Any] = {"name": name, "address": address, "role": "base"}
    bastion: dict[str, Any] = {"address": address}
    for d in (host, bastion):
        if user is not None:
            d["user"] = user
        if port is not None:
            d["port"] = port
    tmp = tmp_path_factory.mktemp("inv")
    path = tmp / "inv.json"
    path.write_text(json.dumps({"bastion": bastion, "hosts": [host, {**host, "name": "x2"}]}))
    try:
        doc = load_outputs(path)
    except (ConfigErrors, InputError):
        return
    hosts = build(doc, tmp / "w", key="/keys/id")
    config = paramiko.SSHConfig.from_path(str(tmp / "w" / "ssh_config"))
    for lookup in ("hdh-bastion", name, "x2", address, "anything-else"):
        assert set(config.lookup(lookup)) <= _ALLOWED_SSH_KEYS
    for host_name, data in hosts:
        assert data["ssh_hostname"] == host_name and "\n" not in data["ssh_user"]
        assert config.lookup(host_name)["hostname"] == address


# ---------------------------------------------------------------- the deploy user (issue 18)


def test_the_stack_user_flows_to_every_host_with_no_flag(tmp_path: Path) -> None:
    """hdh:deployUser -> the plan's `inventory` output -> pyinfra host data, no --ssh-user."""
    import yaml

    from components.config import stack_path
    from hdh.plan import plan_stack

    doc = yaml.safe_load(stack_path("ovh-gra").read_text())
    doc["config"]["hdh:deployUser"] = "admin"
    stack = tmp_path / "Pulumi.ovh-gra.yaml"
    stack.write_text(yaml.safe_dump(doc))
    inv = plan_stack("ovh-gra", path=stack).outputs["inventory"]
    assert inv["user"] == "admin"
    inv["bastion"]["address"] = "192.0.2.10"
    for i, h in enumerate(inv["hosts"]):
        h["address"] = f"10.0.0.{i + 1}"
    hosts = build(load_outputs(write(tmp_path, {"inventory": inv})), tmp_path / "w")
    assert {d["ssh_user"] for _, d in hosts} == {"admin"}
    assert {d["deploy_user"] for _, d in hosts} == {"admin"}
    assert '  User "admin"' in (tmp_path / "w" / "ssh_config").read_text()  # the jump too


def test_who_logs_in(tmp_path: Path) -> None:
    from ground.names import DEPLOY_USER
    from hardening.inventory import user_of

    doc: dict[str, Any] = {"hosts": [{"name": "a", "address": "10.0.0.1", "role": "base"}]}
    host = doc["hosts"][0]
    assert user_of(doc, host) == DEPLOY_USER == "deploy"
    doc["bastion"] = {"address": "192.0.2.1", "user": "ops"}
    assert user_of(doc, host) == "ops"
    doc["user"] = "admin"
    assert user_of(doc, host) == "admin"
    host["user"] = "debian"
    assert user_of(doc, host) == "debian"
    assert user_of(doc, host, override="root") == "root"  # --ssh-user stays an override


def test_the_default_is_written_once() -> None:
    """One default in code (ground.names), the same in Pulumi.yaml's schema for the engine."""
    import ast

    import yaml

    from ground.names import DEPLOY_USER
    from ground.paths import ROOT

    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["deployUser"]
    assert schema["default"] == DEPLOY_USER
    for room in ("components", "hardening", "hdh", "policies"):
        for path in (ROOT / room).rglob("*.py"):
            strings = {
                n.value
                for n in ast.walk(ast.parse(path.read_text()))
                if isinstance(n, ast.Constant)
            }
            assert DEPLOY_USER not in strings, f"{path}: use ground.names.DEPLOY_USER"


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (json.dumps(OUTPUTS).encode("utf-16"), "UTF-16"),
        (b'{"inventory": {"hosts": [], "hosts": []}}', "duplicate key"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
    ],
)
def test_inventory_files_that_cannot_be_trusted(tmp_path: Path, data: bytes, why: str) -> None:
    path = tmp_path / "outputs.json"
    path.write_bytes(data)
    with pytest.raises(InputError, match=why):
        load_outputs(path)
