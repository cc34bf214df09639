"""JSON report: {"violations": [{rule, urn, severity, enforcement, message}], "summary": {...}}."""

from __future__ import annotations

import json

from policies.run import Result


def render(result: Result) -> str:
    return json.dumps(result.to_json(), indent=1) + "\n"
