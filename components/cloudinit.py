"""Minimal cloud-init: a deploy user with a key, no password anywhere (hardening does the rest)."""

from __future__ import annotations

import yaml


def user_data(deploy_user: str, public_key: str, hostname: str) -> str:
    doc = {
        "hostname": hostname,
        "disable_root": True,
        "ssh_pwauth": False,
        "users": [
            {
                "name": deploy_user,
                "shell": "/bin/bash",
                "lock_passwd": True,
                # pyinfra needs sudo; the hardening role narrows the rest of sudoers.
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "ssh_authorized_keys": [public_key],
            }
        ],
        "package_update": False,  # packages come from the services mirror, during hardening
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False)
