"""The `local` stack on real guests: `pulumi up`, host keys, SSH through the bastion, destroy."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from hardening.inventory import ssh_config
from hdh.engine import ThrowawayProject, environment
from localcloud import access
from localcloud.paths import LocalCloudError

log = logging.getLogger(__name__)

STACK = "local"
SSH_TIMEOUT = 1200.0  # seconds from launch to SSH per guest: TCG, two cores shared


class LocalDeployment:
    """One deployment of the `local` stack on the local cloud's real guests (a scratch copy).

        d = LocalDeployment(tmp, env=cloud.env_vars())
        d.up()                          # pulumi up; host keys from the consoles; SSH ready
        d.ssh("hdh-local-data0", "lsblk")   # any host of the inventory, by name
        d.inventory_file                # for `hdh harden --inventory ... --ssh-key d.key`
        d.destroy()                     # pulumi destroy; the forward stopped

    The deploy key is generated here and given to the stack as `hdh:sshPublicKey`; the bastion
    is reached through a BastionForward (127.0.0.1:port), every other host with ProxyJump.
    """

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
        passphrase: str = "local-cloud-real-guests",
    ) -> None:
        self.workdir = workdir
        self.env = dict(env)
        self.key = workdir / "deploy_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hdh-local", "-f", self.key],
            check=True,
        )
        self.public_key = self.key.with_suffix(".pub").read_text().strip()
        cfg = {"hdh:sshPublicKey": self.public_key, **(config or {})}
        self.project = ThrowawayProject(workdir, STACK, cfg, passphrase=passphrase, env=env)
        self.user = str(self._stack_config().get("hdh:deployUser", "deploy"))
        self.known_hosts = workdir / "known_hosts"
        self.ssh_config = workdir / "ssh_config"
        self.inventory_file = workdir / "inventory.json"
        self.outputs: dict[str, Any] = {}
        self.inventory: dict[str, Any] = {}
        self.forward: access.BastionForward | None = None
        self.timings: dict[str, Any] = {}
        self.destroyed = False

    @classmethod
    def resume(
        cls, workdir: Path, env: Mapping[str, str], passphrase: str = "local-cloud-real-guests"
    ) -> LocalDeployment:
        """A deployment made earlier in `workdir` (kept for reruns): its stack, key, SSH access."""
        self = cls.__new__(cls)
        self.workdir, self.env = workdir, dict(env)
        self.key = workdir / "deploy_ed25519"
        self.public_key = self.key.with_suffix(".pub").read_text().strip()
        self.project = _ExistingProject(workdir, STACK, passphrase, env)
        self.user = str(self._stack_config().get("hdh:deployUser", "deploy"))
        self.known_hosts = workdir / "known_hosts"
        self.ssh_config = workdir / "ssh_config"
        self.inventory_file = workdir / "inventory.json"
        self.forward, self.timings, self.destroyed = None, {}, False
        self.outputs = json.loads(self.pulumi("stack", "output", "--json", "--show-secrets"))
        self.inventory = {}
        self.wait_ready()
        return self

    def _stack_config(self) -> dict[str, Any]:
        import yaml

        doc = yaml.safe_load((self.project.dir / "stacks" / f"Pulumi.{STACK}.yaml").read_text())
        return dict(doc["config"])

    def pulumi(self, *args: str, check: bool = True, timeout: float = 3600) -> str:
        res = self.project.run(*args, check=False, timeout=timeout)
        if check and res.returncode != 0:
            raise LocalCloudError(
                f"pulumi {args[0]}", f"exit {res.returncode}:\n{res.stdout[-3000:]}{res.stderr}"
            )
        return res.stdout

    def up(self) -> None:
        """`pulumi up`, then wait until every host answers SSH with the stack's key."""
        t0 = time.monotonic()
        self.pulumi("up", "--yes", "--skip-preview")
        self.timings["pulumi_up_s"] = round(time.monotonic() - t0, 1)
        self.outputs = json.loads(self.pulumi("stack", "output", "--json", "--show-secrets"))
        self.wait_ready()

    def wait_ready(self, timeout: float = SSH_TIMEOUT) -> None:
        """Known hosts from the consoles, the forward to the bastion, SSH on every host."""
        inv = self.outputs["inventory"]
        servers = launch_times(self.env)
        fip = inv["bastion"]["address"]
        if self.forward is None or not self.forward.running:
            self.forward = access.BastionForward(fip).start()
        port = self.forward.port
        self.inventory = {
            "bastion": {"address": "127.0.0.1", "port": port, "user": self.user},
            "hosts": [
                {**h, "address": "127.0.0.1", "port": port} if h["role"] == "bastion" else dict(h)
                for h in inv["hosts"]
            ],
        }
        self.inventory_file.write_text(json.dumps(self.inventory, indent=1))
        # The platform's own client config (what `hdh harden` writes), plus connection sharing:
        # every command would otherwise pay two handshakes (jump + host) under emulation.
        self.ssh_config.write_text(
            ssh_config(self.inventory, self.user, str(self.key), str(self.known_hosts), "yes")
            + "\nHost *\n  ControlMaster auto\n"
            + f"  ControlPath {self.workdir}/cm-%C\n  ControlPersist 600\n"
            + "  ConnectTimeout 60\n  ServerAliveInterval 15\n"
        )
        hosts = self.inventory["hosts"]
        with ThreadPoolExecutor(len(hosts)) as pool:
            keys = dict(
                zip(
                    [h["name"] for h in hosts],
                    pool.map(lambda h: console_host_keys(self.env, h["name"], timeout), hosts),
                    strict=True,
                )
            )
        lines = []
        for h in hosts:
            name = f"[127.0.0.1]:{port}" if h["role"] == "bastion" else h["address"]
            lines += access.known_hosts_lines(name, keys[h["name"]])
        self.known_hosts.write_text("\n".join(lines) + "\n")
        bastion = next(h["name"] for h in hosts if h["role"] == "bastion")
        per_host: dict[str, dict[str, float]] = {}
        # The bastion first: every other host's SSH goes through it.
        first = [h for h in hosts if h["name"] == bastion]
        for group in (first, [h for h in hosts if h["name"] != bastion]):
            with ThreadPoolExecutor(len(group)) as pool:
                for name, ready_at in zip(
                    [h["name"] for h in group],
                    pool.map(lambda h: self._wait_ssh(h["name"], timeout), group),
                    strict=True,
                ):
                    srv = servers[name]
                    per_host[name] = {
                        "to_active_s": round(srv["launched"] - srv["created"], 1),
                        "launch_to_ssh_s": round(ready_at - srv["launched"], 1),
                    }
        self.timings["hosts"] = per_host

    def _wait_ssh(self, host: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while True:
            res = self.ssh(host, "true", check=False, timeout=120)
            if res.returncode == 0:
                return time.time()
            if time.monotonic() > deadline:
                raise LocalCloudError("ssh", f"{host}: no SSH after {timeout:.0f} s: {res.stderr}")
            time.sleep(3)

    def ssh(
        self, host: str, command: str, *, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` on `host` as the deploy user (ProxyJump through the bastion)."""
        res = subprocess.run(
            [
                *("ssh", "-F", str(self.ssh_config), "-o", "BatchMode=yes"),
                *(host, command),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and res.returncode != 0:
            raise LocalCloudError(
                "ssh", f"{host}: {command!r} exited {res.returncode}: {res.stderr}"
            )
        return res

    def host(self, role: str) -> dict[str, Any]:
        """The first inventory host of `role` (bastion, services, data, workspace)."""
        return next(h for h in self.inventory["hosts"] if h.get("role") == role)

    def close(self) -> None:
        """End the shared SSH connections and the forward to the bastion."""
        if self.ssh_config.exists():
            for h in self.inventory.get("hosts", []):
                subprocess.run(
                    ["ssh", "-F", str(self.ssh_config), "-O", "exit", h["name"]],
                    capture_output=True,
                    timeout=30,
                    check=False,
                )
        if self.forward is not None:
            self.forward.stop()

    def destroy(self) -> None:
        """`pulumi destroy` (a second pass takes what the first left), forward stopped."""
        self.close()
        t0 = time.monotonic()
        try:
            self.pulumi("destroy", "--yes", "--skip-preview", check=False)
            self.pulumi("destroy", "--yes", "--skip-preview")
        finally:
            self.timings["pulumi_destroy_s"] = round(time.monotonic() - t0, 1)
            self.destroyed = True


class _ExistingProject(ThrowawayProject):
    """A ThrowawayProject made earlier: the same directory, state and passphrase, no new init."""

    def __init__(self, workdir: Path, stack: str, passphrase: str, env: Mapping[str, str]):
        import os

        self.dir, self.stack = workdir / "project", stack
        base = {**os.environ, **env, "PULUMI_CONFIG_PASSPHRASE": passphrase, "UV_OFFLINE": "1"}
        self.env = environment(base, backend=f"file://{workdir / 'state'}")


def _timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def connect(env: Mapping[str, str]) -> Any:
    """An openstacksdk connection from OS_* variables (cloud.env_vars() or cloud.admin_env())."""
    import openstack

    return openstack.connect(
        auth_url=env["OS_AUTH_URL"],
        username=env["OS_USERNAME"],
        password=env["OS_PASSWORD"],
        project_name=env["OS_PROJECT_NAME"],
        user_domain_name=env.get("OS_USER_DOMAIN_NAME", "Default"),
        project_domain_name=env.get("OS_PROJECT_DOMAIN_NAME", "Default"),
        region_name=env["OS_REGION_NAME"],
    )


def launch_times(env: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """{server name: created and launched (ACTIVE) times} as Nova recorded them."""
    out = {}
    for s in connect(env).compute.servers():
        if s.launched_at:
            out[s.name] = {
                "created": _timestamp(s.created_at),
                "launched": _timestamp(s.launched_at),
            }
    return out


ROOT_NOT_FOUND = "Gave up waiting for root file system device"


def console_host_keys(env: Mapping[str, str], name: str, timeout: float = SSH_TIMEOUT) -> list[str]:
    """The host keys cloud-init printed on `name`'s console (waits for them)."""
    conn = connect(env)
    server = conn.compute.find_server(name, ignore_missing=False)
    deadline = time.monotonic() + timeout
    rebooted = False
    while True:
        console = conn.compute.get_server_console_output(server)["output"] or ""
        keys = access.host_keys(console)
        if keys:
            return keys
        if ROOT_NOT_FOUND in console and not rebooted:
            # Seen once in a cloud-tier run: one guest of four found no root disk (its data
            # volume was being hot-plugged as it booted under emulation). A hard reboot boots
            # it with both disks present; a second failure is a failure.
            log.warning("%s: no root device at boot; hard reboot, once", name)
            conn.compute.reboot_server(server, "HARD")
            rebooted = True
        if time.monotonic() > deadline:
            raise LocalCloudError("console", f"{name}: no host keys after {timeout:.0f} s")
        time.sleep(5)
