"""What every area deploy reads from host data: role, level, deploy user, settings."""

from __future__ import annotations

from pyinfra import host

from ground.names import DEPLOY_USER
from hardening import data

DROP_IN_PREFIX = "hdh-anssi"


def role_name() -> str:
    return str(host.data.get("hdh_role") or data.DEFAULT_ROLE)


def level() -> str:
    """The host's ANSSI level: host data `anssi_level`, else its role's level."""
    return str(host.data.get("anssi_level") or data.role(role_name()).level)


def deploy_user() -> str:
    return str(host.data.get("deploy_user") or DEPLOY_USER)


def settings(area: str) -> dict[str, data.Setting]:
    return data.settings(area, role_name(), level())


def by_control(area: str) -> dict[str, dict[str, object]]:
    """An area's settings grouped by R-number: {"R12": {key: value}}."""
    out: dict[str, dict[str, object]] = {}
    for s in settings(area).values():
        out.setdefault(s.control, {})[s.key] = s.value
    return dict(sorted(out.items(), key=lambda kv: data.rnum_key(kv[0])))
