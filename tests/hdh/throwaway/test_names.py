"""What makes a stack a throwaway one: name, tags, expiry; careless and hostile values refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ground.errors import InputError
from hdh.throwaway import names

NOW = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
GOOD = {
    names.TAG_THROWAWAY: "true",
    names.TAG_BASE: "local",
    names.TAG_EXPIRES: "2026-12-04T20:00:00Z",
}


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("4h", 240), ("90m", 90), ("1d12h", 2160), ("15m", 15), ("7d", 10080), (" 2h ", 120)],
)
def test_ttl(text: str, minutes: int) -> None:
    assert names.parse_ttl(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0m",
        "14m",
        "8d",
        "-1h",
        "4H",
        "4 h",
        "1e3m",
        "\uff14h",
        "4h;rm -rf /",
        "h",
        "4h\n5m",
        "99999999999h",
    ],
)
def test_bad_ttl_is_one_line_naming_the_flag(text: str) -> None:
    with pytest.raises(InputError, match=r"^--ttl "):
        names.parse_ttl(text)


def test_name_from_a_committed_base() -> None:
    name = names.make_name("local", "gl12345")
    assert name == "tw-local-gl12345"
    auto = names.make_name("ovh-gra", now=NOW)
    m = names.NAME.match(auto)
    assert m and m.group("base") == "ovh-gra" and m.group("id").startswith("12041800")


@pytest.mark.parametrize("base", ["nope", "../stacks/local", "tw-local-abcd", "", "LOCAL"])
def test_bad_base_is_refused(base: str) -> None:
    with pytest.raises(InputError, match=r"^--from "):
        names.make_name(base, "abcd")


@pytest.mark.parametrize("ident", ["abc", "a" * 25, "AB12", "ab-12", "ab_12", "ab12\n", "ab 12"])
def test_bad_id_is_refused(ident: str) -> None:
    with pytest.raises(InputError, match=r"^--id "):
        names.make_name("local", ident)


def test_a_throwaway_needs_name_tags_and_expiry() -> None:
    v = names.classify("tw-local-abcd", GOOD, committed={"local"})
    assert v.throwaway and v.base == "local" and not v.expired(NOW)
    assert v.expired(NOW + timedelta(hours=2))


@pytest.mark.parametrize(
    ("name", "tags", "why"),
    [
        ("local", GOOD, "a committed stack"),
        ("prod", GOOD, "tagged throwaway but not named"),
        ("tw-local-abcd\n", GOOD, "not named"),
        ("tw-local-abcd", {**GOOD, names.TAG_THROWAWAY: "yes"}, "no hdh:throwaway=true"),
        ("tw-local-abcd", {k: v for k, v in GOOD.items() if k != names.TAG_THROWAWAY}, "no hdh"),
        ("tw-local-abcd", {**GOOD, names.TAG_BASE: "ovh-gra"}, "does not match its name"),
        ("tw-local-abcd", {**GOOD, names.TAG_EXPIRES: "never"}, "no valid hdh:expiresAt"),
        ("tw-local-abcd", {**GOOD, names.TAG_EXPIRES: "2026-12-04T20:00:00+00:00"}, "no valid"),
        ("tw-local-abcd", {}, "no hdh:throwaway=true"),
    ],
)
def test_anything_else_is_never_a_throwaway(name: str, tags: dict[str, str], why: str) -> None:
    committed = {"local", "ovh-gra", "tw-local-abcd"} if why == "a committed stack" else {"local"}
    v = names.classify(name, tags, committed=committed)
    assert not v.throwaway and why in v.why
    assert not v.expired(NOW + timedelta(days=365))


def test_a_committed_stack_named_like_a_throwaway_is_still_permanent() -> None:
    v = names.classify("tw-local-abcd", GOOD, committed={"tw-local-abcd"})
    assert not v.throwaway


def test_owner_from_ci_variables_is_printable_and_short() -> None:
    assert names.owner({"CI_JOB_URL": "https://gitlab.example/x/-/jobs/7"}).endswith("/jobs/7")
    gh = {"GITHUB_RUN_ID": "9", "GITHUB_REPOSITORY": "o/r"}
    assert names.owner(gh) == "https://github.com/o/r/actions/runs/9"
    hostile = names.owner({"CI_JOB_URL": "x\n\x1b[31mred" + "y" * 500})
    assert hostile.isprintable() and len(hostile) == 200


def test_remaining_reads_both_ways() -> None:
    assert names.remaining(NOW + timedelta(minutes=125), NOW) == "expires in 2h05m"
    assert names.remaining(NOW - timedelta(minutes=3), NOW) == "expired 3m ago"
