"""Inventory from stack outputs: roles, bastion jump, errors that name the file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ground.errors import ConfigErrors, InputError
from hardening.inventory import build, load_outputs, ssh_config

OUTPUTS = {
    "inventory": {
        "bastion": {"address": "203.0.113.10"},
        "hosts": [
            {"name": "bastion-0", "address": "203.0.113.10", "role": "bastion", "tier": "admin"},
            {"name": "k8s-0", "address": "10.40.0.11", "role": "k8s-node", "tier": "processing"},
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
    cfg = (tmp_path / "w" / "ssh_config").read_text()
    blocks = {b.split("\n")[0]: b for b in cfg.split("\n\n") if b.strip()}
    assert "ProxyJump bastion" in blocks["Host k8s-0"]
    assert "ProxyJump" not in blocks["Host bastion-0"]  # the jump host itself is direct
    assert "HostName 203.0.113.10" in blocks["Host bastion"]
    assert "IdentityFile /keys/id" in blocks["Host bastion"]


def test_role_filter(tmp_path: Path) -> None:
    doc = load_outputs(write(tmp_path, OUTPUTS))
    assert [h for h, _ in build(doc, tmp_path, role="k8s-node")] == ["k8s-0"]


def test_no_bastion_means_direct(tmp_path: Path) -> None:
    doc = {"hosts": [{"name": "c1", "address": "127.0.0.1", "port": 2201, "role": "base"}]}
    cfg = ssh_config(doc, "deploy", None)
    assert "ProxyJump" not in cfg and "Port 2201" in cfg


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
        "k8s-control": "k8s-node",
        "k8s-worker": "k8s-node",
    }
    hosts = build(doc, tmp_path / "work", key="/dev/null")
    assert len(hosts) == len(inv["hosts"])
