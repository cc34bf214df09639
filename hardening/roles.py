"""Roles bastion, k8s-node, data-host, workspace: one composition of the areas, data decides."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError

from ground.errors import HdhError
from hardening import data
from hardening.areas import AREAS as TABLE
from hardening.areas import KERNEL_AREAS


class StepError(HdhError):
    """A deploy step refused or failed while its operations were being prepared."""


def _deploy(module: str, function: str) -> Callable[[], Any]:
    deploy_fn: Callable[[], Any] = getattr(importlib.import_module(f"hardening.{module}"), function)
    return deploy_fn


AREAS: dict[str, Callable[[], Any]] = {a.name: _deploy(a.module, a.deploy) for a in TABLE}
__all__ = ["AREAS", "KERNEL_AREAS", "ROLES", "StepError", "check_areas", "harden"]
ROLES = tuple(data.roles())


def check_areas(areas: Sequence[str] | None) -> list[str]:
    """The areas to run, in deploy order; unknown names raise a ConfigError."""
    if not areas:
        return list(AREAS)
    unknown = sorted(set(areas) - set(AREAS))
    if unknown:
        raise data.ConfigError("--areas", ",".join(unknown), f"unknown area (known: {list(AREAS)})")
    return [a for a in AREAS if a in areas]


@deploy("ANSSI BP-028 hardening")
def harden() -> None:
    """Harden the current host for its role (host data `hdh_role`) and areas (`hdh_areas`)."""
    for area in check_areas(host.data.get("hdh_areas")):
        try:
            AREAS[area]()
        except (PyinfraError, HdhError) as exc:
            # Name the area: pyinfra has already left the deploy when the error reaches us.
            raise StepError(f"area {area}: {exc}") from exc
