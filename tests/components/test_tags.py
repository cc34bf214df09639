"""The expiry label of throwaway stacks: checked by the model, on every taggable resource."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import load_stack
from components.tags import EXPIRES_KEY, Labels
from ground.errors import ConfigErrors
from hdh.plan import plan_stack

EXPIRY = "2026-12-04T18:00:00Z"


def labels_of(inputs: dict[str, Any]) -> dict[str, str] | None:
    """A resource's Neutron tags and Nova/Cinder/Swift metadata as a dict; None: untaggable."""
    if "tags" not in inputs and "metadata" not in inputs:
        return None
    out = dict(tag.partition("=")[::2] for tag in inputs.get("tags") or [])
    out.update(inputs.get("metadata") or {})
    return out


def test_labels_carry_the_expiry_only_when_set() -> None:
    plain = Labels(stack="s", classification="c", tier="data")
    assert EXPIRES_KEY not in plain.as_metadata()
    tagged = plain.with_(expires_at=EXPIRY)
    assert tagged.as_metadata()[EXPIRES_KEY] == EXPIRY
    assert f"{EXPIRES_KEY}={EXPIRY}" in tagged.as_tags()


def test_every_taggable_resource_of_a_throwaway_stack_carries_its_expiry() -> None:
    plan = plan_stack("local", {"hdh:expiresAt": EXPIRY})
    taggable = [(r.urn, labels_of(r.inputs)) for r in plan.resources if r.custom]
    taggable = [(urn, lab) for urn, lab in taggable if lab is not None]
    assert len(taggable) > 20
    missing = [urn for urn, lab in taggable if (lab or {}).get(EXPIRES_KEY) != EXPIRY]
    assert missing == []
    assert all((lab or {}).get("stack") == "local" for _, lab in taggable)


def test_a_permanent_stack_carries_no_expiry() -> None:
    plan = plan_stack("local")
    assert not [r.urn for r in plan.resources if EXPIRES_KEY in (labels_of(r.inputs) or {})], (
        "only throwaway stacks expire"
    )


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("tomorrow", "pattern"),
        ("2026-12-04 18:00:00", "pattern"),
        ("2026-12-04T18:00:00+01:00", "pattern"),  # UTC only: one spelling, sortable as text
        ("2026-02-30T18:00:00Z", "no such date"),
        ("2026-12-04T25:00:00Z", "no such date"),
        ("2026-12-04T18:00:00Z\nstack=prod", "pattern"),  # no second tag smuggled in
    ],
)
def test_a_bad_expiry_is_one_line_naming_the_key(value: str, words: str, edited_stack: Any) -> None:
    path = edited_stack(lambda c: c.__setitem__("hdh:expiresAt", value))
    with pytest.raises(ConfigErrors) as info:
        load_stack("ovh-gra", path)
    lines = info.value.lines()
    assert len(lines) == 1 and ": hdh:expiresAt: " in lines[0] and words in lines[0], lines
