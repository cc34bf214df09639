"""Where the local cloud keeps its state (outside the clone), and its generated secrets."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ground.errors import HdhError
from ground.paths import cache_dir

REGION = "RegionOne"
AUTH_URL = "http://127.0.0.1:5000/v3"
PROJECT = "hdh-platform"  # the platform's own project and user (member + creator)
USER = "hdh-platform"
IMAGE_NAME = "Debian 12"  # the local profile's image, looked up by name (one image holds it)
EXT_NETNS = "hdh-lc-ext"  # the namespace that holds the only address of the `public` range
PUBLIC_CIDR = "203.0.113.0/24"  # TEST-NET-3: lives only in EXT_NETNS and Neutron's namespaces
# The administrator's workstation "on the internet": an address inside EXT_NETNS, in the local
# stack's hdh:adminCidrs (192.0.2.0/24, TEST-NET-1), the only source the bastion admits on SSH.
ADMIN_SOURCE = "192.0.2.10"
SERVICE_USERS = ("glance", "placement", "nova", "neutron", "barbican", "swift", "cinder")


class LocalCloudError(HdhError):
    """A local-cloud step failed: `step: message`."""

    def __init__(self, step: str, msg: str) -> None:
        self.step, self.msg = step, msg
        super().__init__(f"local-cloud: {step}: {msg}")


def state_dir() -> Path:
    """`$HDH_CACHE/local-cloud`, default `~/.cache/hdh-platform/local-cloud`."""
    return cache_dir("local-cloud")


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def pids_file(self) -> Path:
        return self.run / "pids.json"

    def make(self) -> None:
        for d in (self.root, self.etc, self.log, self.run, self.data):
            d.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)


def load_secrets(layout: Layout) -> dict[str, str]:
    """Passwords generated at the first `up`, kept 0600 in the state directory, never committed."""
    path = layout.secrets_file
    if path.exists():
        data: dict[str, str] = json.loads(path.read_text())
    else:
        data = {}
    names = ("db", "rabbit", "admin", USER, "simple_crypto_kek", *SERVICE_USERS)
    changed = False
    for name in names:
        if name not in data:
            if name == "simple_crypto_kek":
                # Barbican's KEK is a base64-encoded 32-byte key.
                import base64

                data[name] = base64.b64encode(secrets.token_bytes(32)).decode()
            else:
                data[name] = secrets.token_urlsafe(18)
            changed = True
    if changed:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1)
    path.chmod(0o600)
    return data
