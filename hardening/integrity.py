"""File integrity with AIDE: ANSSI BP-028 R79 (database) and R76 (periodic check)."""

from __future__ import annotations

from pyinfra.api import deploy

from hardening import ops
from hardening.common import settings


@deploy("File integrity (R76 R79)")
def integrity() -> None:
    s = settings("integrity")
    db = str(s["aide.database"].value)
    # The first database is built once; later runs leave it alone (updating the seals is an
    # administrator's decision after reviewing a report, not a side effect of hardening).
    ops.run_once(
        name="R79 AIDE database built", path=db, command="aideinit --yes --force >/dev/null"
    )
    if "aide.timer" in s:
        ops.unit_running(name="R76 AIDE daily check timer", unit=str(s["aide.timer"].value))
