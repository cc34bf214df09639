"""Custom operations as data: canned facts in, exact commands out (pyinfra's own test style).

Each scenario is `ops/<operation>/<name>.yaml` with `kwargs`, `facts` (keyed `module.Fact`; a
fact called with arguments takes `{"arg=value,...": result}` under `by_args`), and either the
`commands` expected, `noop_description` (no command; required for an empty list, as in pyinfra),
or `raises` (a substring of the OperationError message).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pyinfra.api import Config, OperationError
from pyinfra.context import ctx_host, ctx_state

from hardening import ops, tierops

HERE = Path(__file__).parent / "ops"
NEVER_CHANGES = {"skipped"}  # records a not-applicable control: a no-op by design
# Needs a real CA (signs in Python): its change and no-op cases are in test_pki.py.
TESTED_ELSEWHERE = {"signed_certificate"}
MODULES = (ops, tierops)
SCENARIOS = sorted(HERE.glob("*/*.yaml"))
OPERATIONS = sorted(
    name
    for module in MODULES
    for name in dir(module)
    if hasattr(getattr(module, name), "_inner")
    and getattr(module, name).__module__ == module.__name__
    and name not in TESTED_ELSEWHERE
)


def _operation(op_name: str) -> Any:
    return next(getattr(m, op_name) for m in MODULES if hasattr(m, op_name))


def _argstr(kwargs: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v)

    return ",".join(f"{k}={fmt(v)}" for k, v in sorted(kwargs.items()))


class FakeHost:
    """Just what operations use: facts from the scenario, noops recorded, data."""

    def __init__(self, facts: dict[str, Any]) -> None:
        self.facts = facts
        self.noops: list[str] = []
        self.data: dict[str, Any] = {}
        self.asked: list[str] = []

    def get_fact(self, cls: type, *args: Any, **kwargs: Any) -> Any:
        name = f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"
        self.asked.append(name)
        if name not in self.facts:
            raise AssertionError(f"scenario lacks fact {name} ({_argstr(kwargs)})")
        value = self.facts[name]
        if isinstance(value, dict) and "by_args" in value:
            key = _argstr(kwargs)
            if key not in value["by_args"]:
                raise AssertionError(f"scenario lacks fact {name} for {key}")
            return value["by_args"][key]
        return value

    def noop(self, description: str) -> None:
        self.noops.append(description)

    def log(self, *args: Any, **kwargs: Any) -> None:
        pass


class FakeState:
    config = Config()


def run_op(
    op_name: str, kwargs: dict[str, Any], facts: dict[str, Any]
) -> tuple[list[str], FakeHost]:
    fake = FakeHost(facts)
    with ctx_state.use(FakeState()), ctx_host.use(fake):
        commands = [
            c if isinstance(c, str) else c.get_raw_value()
            for c in _operation(op_name)._inner(**kwargs)
        ]
    return commands, fake


@pytest.mark.parametrize("path", SCENARIOS, ids=[f"{p.parent.name}/{p.stem}" for p in SCENARIOS])
def test_scenario(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    op_name = path.parent.name
    if "raises" in doc:
        with pytest.raises(OperationError, match=doc["raises"]):
            run_op(op_name, doc.get("kwargs", {}), doc.get("facts", {}))
        return
    commands, fake = run_op(op_name, doc.get("kwargs", {}), doc.get("facts", {}))
    assert commands == doc["commands"]
    if not commands:
        assert "noop_description" in doc, "a scenario without commands must say why (noop)"
        assert doc["noop_description"] in fake.noops, fake.noops


@pytest.mark.parametrize("op_name", OPERATIONS)
def test_every_operation_has_change_and_noop_cases(op_name: str) -> None:
    docs = [yaml.safe_load(p.read_text()) for p in (HERE / op_name).glob("*.yaml")]
    if op_name not in NEVER_CHANGES:
        assert any(d.get("commands") for d in docs), f"{op_name}: no scenario that changes anything"
    assert any(d.get("commands") == [] for d in docs), f"{op_name}: no no-op scenario"
