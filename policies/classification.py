"""The classification of every OpenStack resource type (policies/types.yaml), as data."""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from ground.errors import ConfigError
from ground.loader import load
from ground.paths import ROOT

TYPES_FILE = ROOT / "policies" / "types.yaml"
VERDICTS = ("judged", "refused", "irrelevant")
ASPECTS = ("region", "encryption", "exposure", "secrets")


class Verdict(NamedTuple):
    verdict: str  # judged, refused or irrelevant
    aspects: tuple[str, ...]  # what is judged (judged only)
    why: str


@cache
def classification() -> dict[str, Verdict]:
    where = "policies/types.yaml"
    doc: Any = load(TYPES_FILE, "yaml", where)
    out: dict[str, Verdict] = {}
    for typ, entry in (doc.get("types") or {}).items():
        kinds = [k for k in VERDICTS if k in (entry or {})]
        if len(kinds) != 1:
            raise ConfigError(where, typ, "needs exactly one of judged, refused, irrelevant")
        kind = kinds[0]
        if kind == "judged":
            aspects = tuple(entry["judged"])
            if not aspects or set(aspects) - set(ASPECTS):
                raise ConfigError(where, typ, f"judged: aspects among {', '.join(ASPECTS)}")
            out[typ] = Verdict(kind, aspects, str(entry.get("why", "")))
        else:
            out[typ] = Verdict(kind, (), str(entry[kind]))
    return out


def verdict(typ: str) -> Verdict | None:
    return classification().get(typ)
