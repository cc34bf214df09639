"""auditd and its rules: ANSSI BP-028 R33 (sudo audited) and R73 (activity logged by auditd)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy, operation

from hardening import ops
from hardening.common import DROP_IN_PREFIX, by_control
from hardening.facts import PrivilegedPrograms

RULES_FILE = f"/etc/audit/rules.d/60-{DROP_IN_PREFIX}.rules"


def both_abis(rules: list[str]) -> list[str]:
    """Every 64-bit syscall rule also for the 32-bit ABI, right after it, unless the group has
    its own 32-bit rules: on x86_64 a 32-bit process enters the kernel through the 32-bit
    syscall table, which `arch=b64` rules do not see (a known way around the audit trail)."""
    if any("arch=b32" in r for r in rules):
        return rules
    out: list[str] = []
    for rule in rules:
        out.append(rule)
        if "-F arch=b64" in rule:
            out.append(rule.replace("-F arch=b64", "-F arch=b32"))
    return out


def expand_programs(rules: list[str], programs: list[str], done: list[str]) -> list[str]:
    """A rule with `{path}` becomes one rule per program, skipping rules already in `done`
    (sudo's has its own group under R33): one rule per program, no duplicate."""
    out: list[str] = []
    for rule in rules:
        if "{path}" not in rule:
            out.append(rule)
            continue
        out += [r for p in programs if (r := rule.format(path=p)) not in done and r not in out]
    return out


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
    # `-e 2` must come last: once loaded, rules cannot change until the next boot.
    rules_file(
        name=f"{rnums} audit rules (augenrules --load)",
        path=RULES_FILE,
        controls={r: {g: [str(x) for x in v] for g, v in gs.items()} for r, gs in controls.items()},  # type: ignore[attr-defined]
        # In a container the rules are written (the host's configuration) but cannot be loaded.
        activate=None if container else "augenrules --load",
    )


@operation()
def rules_file(
    path: str, controls: dict[str, dict[str, list[str]]], activate: str | None
) -> ops.Commands:
    """
    Write the audit rules file: groups by R-number, both syscall ABIs, one rule per setuid/setgid
    program, the immutable flag last; then load it (``activate``).

    + path: rules file under /etc/audit/rules.d
    + controls: {R-number: {group: [rule lines]}}; a line with ``{path}`` is one per program
    + activate: the command loading the rules (None where they cannot be loaded)

    Programs are listed when the operation runs, after the areas before it (R57 removes bits).
    """
    lines = ["## Managed by hdh hardening (ANSSI BP-028): do not edit."]
    immutable: list[str] = []
    programs = host.get_fact(PrivilegedPrograms)
    for rnum, groups in controls.items():
        for group, rules in groups.items():
            target = immutable if group == "immutable" else lines
            target.append(f"## {rnum} {group}")
            target.extend(both_abis(expand_programs(rules, programs, lines)))
    yield from ops.validated_file._inner(
        path=path, content="\n".join(lines + immutable) + "\n", mode="0640", activate=activate
    )
