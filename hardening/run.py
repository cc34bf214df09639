"""Run the hardening deploy through pyinfra's API and report per host: changes, errors, timing."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operations import run_ops

from ground.errors import HdhError
from ground.names import DEPLOY_USER
from hardening import roles
from hardening.facts import HostKind

log = logging.getLogger(__name__)

HostSpec = tuple[str, dict[str, Any]]


@dataclass
class HostResult:
    name: str
    role: str
    kind: str = "unknown"
    operations: int = 0
    changed: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.name,
            "role": self.role,
            "kind": self.kind,
            "operations": self.operations,
            "changed": self.changed,
            "error": self.error,
            "seconds": round(self.seconds, 1),
        }


def _op_name(state: State, op_hash: str) -> str:
    names = sorted(state.get_op_meta(op_hash).names)
    return names[0] if names else op_hash


def harden_hosts(
    hosts: Sequence[HostSpec],
    areas: Sequence[str] | None = None,
    check: bool = False,
    parallel: int = 10,
) -> list[HostResult]:
    """Harden `hosts` [(address, data)], or only predict the changes with `check`.

    Hosts run in waves by their host data `hdh_wave` (default 0): the services hosts (1: proxy,
    package cache and collector ready) before the hosts that use them (2). A host with
    `hdh_first` (areas) runs those areas alone in a wave before all the others: the bastion's
    firewall (see inventory.bastion_first)."""
    roles.check_areas(areas)
    waves: dict[int, list[HostSpec]] = {}
    for name, hdata in hosts:
        first = [a for a in hdata.get("hdh_first") or () if not areas or a in areas]
        if first:
            waves.setdefault(-1, []).append((name, {**hdata, "hdh_areas": first}))
        waves.setdefault(int(hdata.get("hdh_wave") or 0), []).append((name, hdata))
    results: dict[str, HostResult] = {}
    start = time.monotonic()
    for wave in sorted(waves):
        if len(waves) > 1:
            log.info("wave %d: %d host(s)", wave, len(waves[wave]))
        for r in _harden_wave(waves[wave], areas, check, parallel, start):
            results[r.name] = _merge(results[r.name], r) if r.name in results else r
    return [results[name] for name, _ in hosts]


def _merge(before: HostResult, after: HostResult) -> HostResult:
    """One host's results over two waves: operations add up, the first error stands."""
    before.operations += after.operations
    before.changed += [c for c in after.changed if c not in before.changed]
    before.error = before.error or after.error
    before.kind = after.kind if after.kind != "unknown" else before.kind
    before.seconds = max(before.seconds, after.seconds)
    return before


def _harden_wave(
    hosts: Sequence[HostSpec],
    areas: Sequence[str] | None,
    check: bool,
    parallel: int,
    start: float,
    deploy_fn: Callable[[], Any] = roles.harden,
) -> list[HostResult]:
    specs = []
    for name, hdata in hosts:
        hdata = dict(hdata)
        hdata.setdefault("hdh_role", "base")
        if areas and "hdh_areas" not in hdata:  # a first wave's own areas stand
            hdata["hdh_areas"] = list(areas)
        hdata.setdefault("ssh_user", hdata.get("deploy_user", DEPLOY_USER))
        specs.append((name, hdata))
    inventory = Inventory((specs, {}))
    config = Config(SUDO=True, PARALLEL=parallel, FAIL_PERCENT=100)
    # A real run does not predict changes first: every operation reads its facts once, at
    # execution (half the SSH round trips); --check predicts and executes nothing.
    state = State(inventory, config, check_for_changes=check)
    state.should_raise_failed_hosts = lambda _state: False  # we report every host ourselves
    results = {h: HostResult(h.name, str(h.data.get("hdh_role"))) for h in inventory}
    with contextlib.suppress(PyinfraError):  # every host unreachable: reported below
        connect_all(state)
    for h in inventory:
        if h not in state.activated_hosts:
            results[h].error = f"{h.name}: step connect: unreachable over SSH as {h.data.ssh_user}"
    for h in list(state.active_hosts):
        try:
            results[h].kind = h.get_fact(HostKind)
            add_deploy(state, deploy_fn, host=h)
        except (PyinfraError, HdhError) as exc:
            results[h].error = f"{h.name}: step prepare, {exc}"
            _fail(state, h)
    if not check and state.active_hosts:
        try:
            run_ops(state)
        except PyinfraError as exc:
            log.debug("pyinfra stopped: %s", exc)
    for h in inventory:
        r = results[h]
        r.seconds = time.monotonic() - start
        if h not in state.ops:
            continue
        for op_hash in state.get_op_order():
            op = state.ops[h].get(op_hash)
            if op is None:
                continue
            r.operations += 1
            meta = op.operation_meta
            if check:
                if meta._maybe_is_change:
                    r.changed.append(_op_name(state, op_hash))
            elif meta.is_complete():
                if meta.did_error() and r.error is None:
                    r.error = f"{h.name}: step {_op_name(state, op_hash)}: failed"
                    stderr = [ln for ln in meta.stderr_lines if ln.strip()][-3:]
                    if stderr:
                        r.error += ": " + " | ".join(stderr)
                elif meta.did_change():
                    r.changed.append(_op_name(state, op_hash))
            elif r.error is None and h in state.failed_hosts:
                r.error = f"{h.name}: step {_op_name(state, op_hash)}: not run (host failed)"
    disconnect_all(state)
    for r in results.values():
        log.info(
            "%s (%s, %s): %d operations, %d %s%s",
            r.name,
            r.role,
            r.kind,
            r.operations,
            len(r.changed),
            "would change" if check else "changed",
            f", ERROR {r.error}" if r.error else "",
        )
    return list(results.values())


def _fail(state: State, h: Any) -> None:
    with contextlib.suppress(PyinfraError):  # no host left: nothing else to run
        state.fail_hosts({h})


def run_deploy(hosts: Sequence[HostSpec], deploy_fn: Callable[[], Any]) -> list[HostResult]:
    """Run one other deploy (not the hardening) on `hosts`, reported like a hardening run."""
    return _harden_wave(hosts, None, False, 10, time.monotonic(), deploy_fn)
