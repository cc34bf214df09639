"""What a throwaway run did, phase by phase: progress lines, a JSON summary and JUnit XML."""

from __future__ import annotations

import json
import logging
import os
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = "hdh-env/v1"
# passed, failed: the phase ran. not-run: an earlier phase it needs did not pass. skipped: asked
# for (--keep-on-failure, or the verb does not include it). interrupted: SIGINT/SIGTERM.
STATUSES = ("passed", "failed", "not-run", "skipped", "interrupted")


@dataclass
class Phase:
    name: str
    status: str = "not-run"
    seconds: float = 0.0
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # counts, per-host times, report files


@dataclass
class Report:
    command: str  # cycle, up, verify, down
    stack: str
    base: str = ""
    backend: str = ""
    expires_at: str = ""
    phases: list[Phase] = field(default_factory=list)
    interrupted_by: str = ""
    kept: bool = False  # the environment outlives the command (up, --keep-on-failure)
    json_path: Path | None = None
    junit_path: Path | None = None
    started: float = field(default_factory=time.monotonic)

    def phase(self, name: str) -> Phase:
        for p in self.phases:
            if p.name == name:
                return p
        p = Phase(name)
        self.phases.append(p)
        return p

    @property
    def passed(self) -> bool:
        return all(p.status in ("passed", "skipped") for p in self.phases) and not (
            self.interrupted_by
        )

    @property
    def exit_code(self) -> int:
        if self.interrupted_by:
            return 128 + {"SIGINT": 2, "SIGTERM": 15}.get(self.interrupted_by, 15)
        return 0 if self.passed else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "command": self.command,
            "stack": self.stack,
            "base": self.base,
            "backend": self.backend,
            "expiresAt": self.expires_at,
            "result": "passed" if self.passed else "failed",
            "interruptedBy": self.interrupted_by or None,
            "kept": self.kept,
            "seconds": round(time.monotonic() - self.started, 1),
            "phases": [{**asdict(p), "seconds": round(p.seconds, 1)} for p in self.phases],
        }

    def to_junit(self) -> str:
        failed = sum(p.status == "failed" for p in self.phases)
        errors = sum(p.status == "interrupted" for p in self.phases)
        skipped = sum(p.status in ("not-run", "skipped") for p in self.phases)
        suite = ET.Element(
            "testsuite",
            name=f"hdh-env-{self.command}",
            tests=str(len(self.phases)),
            failures=str(failed),
            errors=str(errors),
            skipped=str(skipped),
            time=f"{sum(p.seconds for p in self.phases):.1f}",
        )
        for p in self.phases:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"hdh.env.{self.base or 'stack'}",
                name=p.name,
                time=f"{p.seconds:.1f}",
            )
            if p.status == "failed":
                ET.SubElement(case, "failure", message=p.detail[:500]).text = p.detail
            elif p.status == "interrupted":
                ET.SubElement(case, "error", message=p.detail[:500]).text = p.detail
            elif p.status in ("not-run", "skipped"):
                ET.SubElement(case, "skipped", message=f"{p.status}: {p.detail}"[:500])
            if p.facts:
                ET.SubElement(case, "system-out").text = json.dumps(p.facts, indent=1)
        root = ET.Element("testsuites", name=f"hdh env {self.command} {self.stack}")
        root.append(suite)
        ET.indent(root)
        return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

    def write(self) -> None:
        """Write the JSON and JUnit files now (after every phase: a killed run leaves its last)."""
        for path, text in (
            (self.json_path, lambda: json.dumps(self.to_json(), indent=1) + "\n"),
            (self.junit_path, self.to_junit),
        ):
            if path is None:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text())
            os.replace(tmp, path)

    def summary_lines(self) -> list[str]:
        width = max((len(p.name) for p in self.phases), default=5)
        lines = [
            f"{p.name:<{width}}  {p.status:<11} {p.seconds:7.1f} s  {p.detail}".rstrip()
            for p in self.phases
        ]
        verdict = "passed" if self.passed else "FAILED"
        if self.interrupted_by:
            verdict = f"interrupted by {self.interrupted_by}"
        lines.append(f"{self.command} {self.stack}: {verdict}")
        return lines
