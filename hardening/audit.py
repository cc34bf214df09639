"""auditd and its rules: ANSSI BP-028 R33 (sudo audited) and R73 (activity logged by auditd)."""

from __future__ import annotations

from pyinfra.api import deploy

from hardening import ops
from hardening.common import by_control

RULES_FILE = "/etc/audit/rules.d/60-hdh-anssi.rules"


@deploy("auditd (R33 R73)")
def audit_rules() -> None:
    controls = by_control("audit")
    rnums = " ".join(controls)
    container = ops.in_container()
    if container:
        ops.skipped(
            name="R73 auditd enabled and running",
            reason="container: the audit subsystem belongs to the host's kernel",
        )
    else:
        ops.unit_running(name="R73 auditd enabled and running", unit="auditd.service")
    lines = ["## Managed by hdh hardening (ANSSI BP-028): do not edit."]
    immutable: list[str] = []
    for rnum, groups in controls.items():
        for group, rules in groups.items():
            target = immutable if group == "immutable" else lines
            target.append(f"## {rnum} {group}")
            target.extend(str(r) for r in rules)  # type: ignore[attr-defined]
    # `-e 2` must come last: once loaded, rules cannot change until the next boot.
    ops.validated_file(
        name=f"{rnums} audit rules (augenrules --load)",
        path=RULES_FILE,
        content="\n".join(lines + immutable) + "\n",
        mode="0640",
        # In a container the rules are written (the host's configuration) but cannot be loaded.
        activate=None if container else "augenrules --load",
    )
