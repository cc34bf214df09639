"""JSON report: {"violations": [...], "undetermined": [{rule, urn, enforcement, reason}],
"summary": {...}}."""

from __future__ import annotations

import json

from policies.run import Result


def render(result: Result) -> str:
    return json.dumps(result.to_json(), indent=1) + "\n"
