"""Controls the rules serve and the numbered requirements behind them (policies/controls.yaml).

A requirement whose number was not read in a public source says "to be confirmed"; nothing here
invents a paragraph number (the sources and the date they were checked are in the data file).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

DATA = Path(__file__).with_name("controls.yaml")
TBC = "to be confirmed"


class Source(NamedTuple):
    id: str
    title: str
    publisher: str
    version: str
    date: str | None
    url: str | None
    read_in: tuple[str, ...]
    checked: str
    note: str


class Requirement(NamedTuple):
    id: str
    source: str
    number: str | None  # None: not read in a public source, "to be confirmed"
    title: str
    note: str = ""

    @property
    def label(self) -> str:
        """`SecNumCloud 3.2 §19.6`, `HDS v2 req. 28-31`, `ANSSI-FT-082 R3, R4, R5`.

        Numbered requirements show their number; the others their title and "to be confirmed".
        """
        src = SOURCES[self.source]
        name = _SHORT.get(self.source, src.title)
        if self.source == "hdh":
            return f"hdh convention: {self.title}"
        if self.number is None:
            return f"{name}: {self.title} ({TBC})"
        return f"{name} {_PREFIX.get(self.source, '')}{self.number}"


class Control(NamedTuple):
    framework: str
    version: str
    title: str
    requirements: tuple[str, ...] = ()

    @property
    def refs(self) -> list[Requirement]:
        return [REQUIREMENTS[r] for r in self.requirements]

    @property
    def numbers(self) -> str:
        """The requirement labels, `; `-joined: what reports and the matrix show."""
        return "; ".join(r.label for r in self.refs)


_SHORT = {
    "secnumcloud-3.2": "SecNumCloud 3.2",
    "hds-2": "HDS v2",
    "anssi-bp-028": "ANSSI BP-028 v2.0",
    "anssi-ft-082": "ANSSI-FT-082",
    "hdh": "hdh",
}
_PREFIX = {"secnumcloud-3.2": "§", "hds-2": "req. ", "anssi-bp-028": ""}


class ControlsDataError(ValueError):
    """policies/controls.yaml is inconsistent (a bug in committed data, caught by the tests)."""


@cache
def _load() -> dict[str, Any]:
    doc = yaml.safe_load(DATA.read_text())
    if not isinstance(doc, dict):
        raise ControlsDataError(f"{DATA.name}: not a mapping")
    return doc


def _sources(doc: dict[str, Any]) -> dict[str, Source]:
    return {
        k: Source(
            k,
            v["title"],
            v["publisher"],
            str(v.get("version") or ""),
            v.get("date"),
            v.get("url"),
            tuple(v.get("read_in") or ()),
            str(v["checked"]),
            str(v.get("note") or ""),
        )
        for k, v in doc["sources"].items()
    }


def _requirements(doc: dict[str, Any], sources: dict[str, Source]) -> dict[str, Requirement]:
    out = {}
    for k, v in doc["requirements"].items():
        if v["source"] not in sources:
            raise ControlsDataError(f"requirements.{k}.source: unknown source {v['source']!r}")
        number = v.get("number")
        if number is None and TBC not in str(v.get("note", "")) and v["source"] != "hdh":
            raise ControlsDataError(f"requirements.{k}: no number and no '{TBC}' note")
        out[k] = Requirement(k, v["source"], number, v["title"], str(v.get("note") or ""))
    return out


def _controls(doc: dict[str, Any], reqs: dict[str, Requirement]) -> dict[str, Control]:
    out = {}
    for k, v in doc["controls"].items():
        missing = [r for r in v.get("requirements") or [] if r not in reqs]
        if missing or not v.get("requirements"):
            raise ControlsDataError(f"controls.{k}.requirements: unknown or none {missing}")
        out[k] = Control(v["framework"], str(v["version"]), v["title"], tuple(v["requirements"]))
    return out


SOURCES: dict[str, Source] = _sources(_load())
REQUIREMENTS: dict[str, Requirement] = _requirements(_load(), SOURCES)
CONTROLS: dict[str, Control] = _controls(_load(), REQUIREMENTS)


def hardening_requirements(rnum: str) -> list[str]:
    """Labels of what a BP-028 R-number serves: itself, then the cloud requirements."""
    extra = _load().get("hardening", {}).get(rnum) or _load()["hardening"]["default"]
    return [f"ANSSI BP-028 v2.0 {rnum}", *(REQUIREMENTS[r].label for r in extra)]
