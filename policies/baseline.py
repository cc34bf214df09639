"""Baselines: a previous report (JSON or SARIF) whose findings are known, so a report shows only
the new ones. A finding is the same when its rule, resource URN and message are the same."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ground.errors import InputError

Key = tuple[str, str, str]
MAX_FINDINGS = 1_000_000


def fingerprint(rule: str, urn: str, message: str) -> Key:
    return (rule, urn, message)


def keys(doc: Any, where: str) -> set[Key]:
    """The violations of an `hdh policy check` JSON or SARIF report. Waived findings are not
    taken: when their waiver goes away or expires they are violations again, not known ones."""
    if not isinstance(doc, Mapping):
        raise InputError(f"{where}: not a policy report (top level not an object)")
    if "runs" in doc:
        return _sarif(doc, where)
    if "violations" in doc:
        out: set[Key] = set()
        entries = doc["violations"]
        if not isinstance(entries, list) or len(entries) > MAX_FINDINGS:
            raise InputError(f"{where}: violations: expected a list of findings")
        for i, v in enumerate(entries):
            out.add(_entry(v, f"{where}: violations[{i}]", ("rule", "urn", "message")))
        return out
    raise InputError(f"{where}: not an `hdh policy check` JSON or SARIF report")


def _entry(v: Any, where: str, names: tuple[str, str, str]) -> Key:
    if not isinstance(v, Mapping):
        raise InputError(f"{where}: expected an object")
    values = []
    for name in names:
        value = v.get(name)
        if not isinstance(value, str):
            raise InputError(f"{where}.{name}: expected a string")
        values.append(value)
    return fingerprint(*values)


def _sarif(doc: Mapping[str, Any], where: str) -> set[Key]:
    out: set[Key] = set()
    runs = doc.get("runs")
    if not isinstance(runs, list):
        raise InputError(f"{where}: runs: expected a list")
    for r, run in enumerate(runs):
        results = run.get("results") if isinstance(run, Mapping) else None
        if not isinstance(results, list) or len(results) > MAX_FINDINGS:
            raise InputError(f"{where}: runs[{r}].results: expected a list")
        for i, res in enumerate(results):
            at = f"{where}: runs[{r}].results[{i}]"
            if isinstance(res, Mapping) and res.get("suppressions"):
                continue  # waived then: not a known violation
            props = res.get("properties") if isinstance(res, Mapping) else None
            finding = props.get("hdh") if isinstance(props, Mapping) else None
            if not isinstance(finding, Mapping):
                raise InputError(f"{at}.properties.hdh: missing (not a report of this pack)")
            out.add(_entry(finding, f"{at}.properties.hdh", ("rule", "urn", "message")))
    return out


def load(path: Any) -> set[Key]:
    """The known findings of a previous report file."""
    import json
    from pathlib import Path

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not JSON: {exc}") from None
    return keys(doc, str(p))


def drop_known(result: Any, known: set[Key]) -> None:
    """Keep only the findings not in `known` (policies.run.Result, in place)."""
    # A finding whose waiver expired is a violation again, even if an older report had it.
    again = {f for f, _ in result.expired_waivers}
    new = [
        f
        for f in result.findings
        if f in again or fingerprint(f.rule, f.urn, f.message) not in known
    ]
    result.baselined = [f for f in result.findings if f not in new]
    result.findings = new
