"""A hardening re-check published to monitoring: what `hdh harden --check` would change, per host,
as metrics on the services hosts (the HardeningDrift alert of data/services_tier.yaml)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pyinfra import host
from pyinfra.api import deploy

from hardening import ops
from hardening.run import HostResult

PATH = "/var/lib/prometheus/node-exporter/hdh_hardening.prom"


def metrics(results: Sequence[HostResult], now: float | None = None) -> str:
    """Prometheus text format: pending changes (-1: the host could not be checked) and when."""
    stamp = int(now if now is not None else time.time())
    lines = [
        "# HELP hdh_hardening_pending_changes Operations the last hardening re-check would change "
        "(-1: the host could not be checked).",
        "# TYPE hdh_hardening_pending_changes gauge",
    ]
    for r in sorted(results, key=lambda r: r.name):
        value = -1 if r.error else len(r.changed)
        lines.append(f'hdh_hardening_pending_changes{{source="{r.name}"}} {value}')
    lines += [
        "# HELP hdh_hardening_last_check_timestamp_seconds When the last re-check ran.",
        "# TYPE hdh_hardening_last_check_timestamp_seconds gauge",
    ]
    lines += [
        f'hdh_hardening_last_check_timestamp_seconds{{source="{r.name}"}} {stamp}'
        for r in sorted(results, key=lambda r: r.name)
    ]
    return "\n".join(lines) + "\n"


@deploy("Publish the hardening re-check")
def publish() -> None:
    ops.validated_file(
        name="hardening re-check results for monitoring",
        path=PATH,
        content=str(host.data.get("hdh_drift_metrics")),
    )
