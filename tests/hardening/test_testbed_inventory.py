"""The deploy user flows from config to the stack's inventory output to `hdh harden` (testbed).

A stack with `hdh:deployUser: hdhadmin` plans an `inventory` output naming that user; `hdh harden
--check` on it, with no --ssh-user, logs in to a real Debian 12 container as hdhadmin (a user
that exists only for this test, as cloud-init would have made it). The same inventory naming a
user the host lacks fails at the connect step, naming that user: the inventory decides.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import stack_path
from hdh import cli
from hdh.plan import plan_stack
from testbed import TestHost

pytestmark = pytest.mark.testbed
USER = "hdhadmin"


def _as_root(ssh_run: Any, h: TestHost, command: str) -> None:
    out = ssh_run(h, f"sudo -n sh -c {json.dumps(command)}", tty=True)
    assert out.returncode == 0, f"{h.name}: {command}: {out.stdout} {out.stderr}"


@pytest.fixture
def admin_user(testbed_containers: list[TestHost], ssh_run: Any) -> Any:
    """hdhadmin on the first container: the deploy user's key, groups and sudo, as cloud-init
    would have made it for `hdh:deployUser: hdhadmin`; removed afterwards."""
    h = testbed_containers[0]
    _as_root(
        ssh_run,
        h,
        f"id {USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {USER}; "
        f"usermod -a -G $(id -Gn {h.user} | tr ' ' ,) {USER}; "
        f"install -d -m 700 -o {USER} -g {USER} /home/{USER}/.ssh; "
        f"install -m 600 -o {USER} -g {USER} /home/{h.user}/.ssh/authorized_keys "
        f"/home/{USER}/.ssh/authorized_keys; "
        # What hardening gives the deploy user (hardening/data/sudo.yaml, deploy_exemptions):
        # on a host hardened earlier in the session, BP-028's noexec would stop `sudo sh -c`.
        f"printf '{USER} ALL=(ALL) NOPASSWD: ALL\\nDefaults:{USER} !requiretty, !noexec\\n' "
        f"> /etc/sudoers.d/hdh-test-{USER}; chmod 0440 /etc/sudoers.d/hdh-test-{USER}",
    )
    yield h
    # -f: the in-process pyinfra run may still hold a session of that user (plain userdel then
    # refuses, and the account would outlive the test on a testbed kept for the next session).
    _as_root(ssh_run, h, f"rm -f /etc/sudoers.d/hdh-test-{USER}; userdel -f -r {USER} || true")


def _inventory(tmp_path: Path, h: TestHost, user: str) -> Path:
    """The `inventory` output of a real plan of a stack whose hdh:deployUser is `user`, its
    one host pointed at the container (a plan has no addresses: the cloud gives them)."""
    doc = yaml.safe_load(stack_path("ovh-gra").read_text())
    doc["config"]["hdh:deployUser"] = user
    path = tmp_path / f"Pulumi.{user}.yaml"
    path.write_text(yaml.safe_dump(doc))
    inv = copy.deepcopy(plan_stack("ovh-gra", path=path).outputs["inventory"])
    assert inv["user"] == user and inv["bastion"]["user"] == user
    del inv["bastion"]  # the container is reached directly, as a bastion is
    # One host of role base: no services tier to wire, no backups to schedule.
    inv.pop("services", None)
    inv.pop("backups", None)
    inv["hosts"] = [{"name": h.name, "address": h.host, "port": h.port, "role": "base"}]
    out = tmp_path / f"outputs-{user}.json"
    out.write_text(json.dumps({"inventory": inv}))
    return out


def _check(inventory: Path, h: TestHost, report: Path) -> int:
    return cli.main(
        [
            "harden",
            "--inventory",
            str(inventory),
            "--ssh-key",
            str(h.key_path),
            "--host-key-check",
            "no",
            "--known-hosts",
            "/dev/null",
            "--check",
            "--areas",
            "ssh,sudo",
            "--json",
            str(report),
        ]
    )


def test_harden_logs_in_as_the_inventorys_user(admin_user: TestHost, tmp_path: Path) -> None:
    h = admin_user
    report = tmp_path / "ok.json"
    assert _check(_inventory(tmp_path, h, USER), h, report) == 0
    (result,) = json.loads(report.read_text())
    assert result["error"] is None and result["operations"] > 0, result

    # The inventory, not a default, decides: a user the host lacks fails, and is named.
    report = tmp_path / "ko.json"
    assert _check(_inventory(tmp_path, h, "nobodyhere"), h, report) == 1
    (result,) = json.loads(report.read_text())
    assert "unreachable over SSH as nobodyhere" in result["error"], result
