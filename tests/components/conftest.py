"""Shared helpers: plans of the committed stacks, and stack files edited for one case."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import stack_path
from hdh.plan import Plan, PlannedResource, plan_stack


@cache
def planned(stack: str) -> Plan:
    return plan_stack(stack)


def stack_doc(stack: str = "ovh-gra") -> dict[str, Any]:
    return yaml.safe_load(stack_path(stack).read_text())


@pytest.fixture
def edited_stack(tmp_path: Path) -> Callable[[Callable[[dict[str, Any]], None]], Path]:
    """Write a copy of the ovh-gra stack file changed by `edit(config)`; return its path."""

    def make(edit: Callable[[dict[str, Any]], None], stack: str = "ovh-gra") -> Path:
        doc = copy.deepcopy(stack_doc(stack))
        edit(doc["config"])
        path = tmp_path / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    return make


def of_type(plan: Plan, token: str) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type == token]


def by_urn(plan: Plan) -> dict[str, PlannedResource]:
    return {r.urn: r for r in plan.resources}
