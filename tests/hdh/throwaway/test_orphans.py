"""Which cloud resources the reaper may ever consider: a throwaway name and an expiry tag."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hdh.throwaway import orphans


@pytest.mark.parametrize(
    ("tags", "metadata", "stack"),
    [
        (
            ["stack=tw-local-abcd", "expires-at=2026-12-04T18:00:00Z", "tier=data"],
            None,
            "tw-local-abcd",
        ),
        (
            None,
            {"Stack": "tw-local-abcd", "Expires-At": "2026-12-04T18:00:00Z"},
            "tw-local-abcd",
        ),  # Swift hands metadata keys back capitalised
    ],
)
def test_a_throwaway_resource(
    tags: list[str] | None, metadata: dict[str, str] | None, stack: str
) -> None:
    t = orphans._tagged("network", "id1", "n", orphans._labels(tags, metadata))
    assert t is not None and t.stack == stack
    assert t.expires == datetime(2026, 12, 4, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tags", "metadata"),
    [
        (["stack=local", "expires-at=2000-01-01T00:00:00Z"], None),  # a permanent stack's name
        (["stack=prod"], None),  # no expiry
        (["stack=tw-local-abcd"], None),
        (["expires-at=2000-01-01T00:00:00Z"], None),  # no stack
        (["stack=tw-local-abcd\n", "expires-at=2000-01-01T00:00:00Z"], None),
        ([42, None, "stack"], {"stack": 7}),  # junk of every kind
        (None, None),
    ],
)
def test_anything_else_is_never_considered(
    tags: list[object] | None, metadata: dict[str, object] | None
) -> None:
    labels = orphans._labels(tags, metadata)
    assert orphans._tagged("network", "id1", "n", labels) is None


def test_an_unreadable_expiry_is_kept_not_deleted() -> None:
    t = orphans._tagged("volume", "v", "v", {"stack": "tw-local-abcd", "expires-at": "soon"})
    assert t is not None and t.expires is None  # the reaper lists it, never deletes it


def test_deletion_order_puts_servers_first_and_containers_last() -> None:
    items = [orphans.Tagged(k, k, k, "tw-local-abcd", None) for k in reversed(orphans.KINDS)]
    order = [t.kind for t in sorted(items, key=lambda t: orphans.KINDS.index(t.kind))]
    assert order[0] == "server" and order[-1] == "container"
    assert order.index("router") < order.index("subnet") < order.index("network")
