"""What makes a stack a throwaway one: its name, its stack tags and its expiry (TTL)."""

from __future__ import annotations

import getpass
import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from components.config import available_stacks
from ground.errors import InputError

PREFIX = "tw"
# tw-<base>-<id>: the base is a committed stack (a DNS label), the id has no dash.
NAME = re.compile(r"^tw-(?P<base>[a-z][a-z0-9-]{0,30}[a-z0-9])-(?P<id>[a-z0-9]{4,24})\Z")
ID = re.compile(r"^[a-z0-9]{4,24}\Z")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the one spelling of hdh:expiresAt (components/config.py)
TTL = re.compile(r"^(?:([0-9]{1,3})d)?(?:([0-9]{1,4})h)?(?:([0-9]{1,5})m)?\Z")
MIN_TTL = timedelta(minutes=15)  # shorter than a cycle: the reaper could take it mid-way
MAX_TTL = timedelta(days=7)

TAG_THROWAWAY = "hdh:throwaway"
TAG_EXPIRES = "hdh:expiresAt"
TAG_BASE = "hdh:base"
TAG_CREATED = "hdh:createdAt"
TAG_OWNER = "hdh:owner"


def parse_ttl(text: str) -> timedelta:
    """'4h', '90m', '1d12h' -> timedelta, between MIN_TTL and MAX_TTL."""
    m = TTL.match(text.strip()) if text else None
    if not m or not any(m.groups()):
        raise InputError(f"--ttl {text!r}: give a duration like 4h, 90m or 1d12h")
    days, hours, minutes = (int(g or 0) for g in m.groups())
    ttl = timedelta(days=days, hours=hours, minutes=minutes)
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise InputError(f"--ttl {text}: must be between 15m and 7d")
    return ttl


def format_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def check_base(base: str) -> str:
    """A committed stack that is not itself a throwaway one."""
    if base.startswith(f"{PREFIX}-") or base not in available_stacks():
        have = ", ".join(s for s in available_stacks() if not s.startswith(f"{PREFIX}-"))
        raise InputError(f"--from {base!r}: not a committed stack (stacks here: {have})")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", base):
        raise InputError(f"--from {base!r}: a base stack's name must be a DNS label")
    return base


def make_name(base: str, ident: str | None = None, now: datetime | None = None) -> str:
    """tw-<base>-<id>; the id defaults to the UTC minute and 4 random hex digits."""
    if ident is None:
        ident = (now or datetime.now(UTC)).strftime("%m%d%H%M") + secrets.token_hex(2)
    if not ID.match(ident):
        raise InputError(f"--id {ident!r}: 4 to 24 lowercase letters or digits")
    return f"{PREFIX}-{check_base(base)}-{ident}"


def owner(env: Mapping[str, str] | None = None) -> str:
    """Who made it: the CI job's URL, else user@host (shown by `hdh env list` and the reaper)."""
    env = os.environ if env is None else env
    if env.get("CI_JOB_URL"):
        who = env["CI_JOB_URL"]
    elif env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        who = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    else:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        who = f"{user}@{socket.gethostname()}"
    return "".join(c for c in who if c.isprintable())[:200]


def tags_for(base: str, expires: datetime, created: datetime, by: str) -> dict[str, str]:
    return {
        TAG_THROWAWAY: "true",
        TAG_EXPIRES: format_time(expires),
        TAG_BASE: base,
        TAG_CREATED: format_time(created),
        TAG_OWNER: by,
    }


@dataclass(frozen=True)
class Verdict:
    """Whether a stack on the backend is a throwaway one, and why (not)."""

    name: str
    throwaway: bool
    why: str = ""
    base: str = ""
    expires: datetime | None = None
    owner: str = ""

    def expired(self, now: datetime) -> bool:
        return self.throwaway and self.expires is not None and self.expires <= now


def classify(name: str, tags: Mapping[str, str], committed: set[str] | None = None) -> Verdict:
    """Throwaway only if name, tags and expiry all say so: anything else is never touched."""
    committed = set(available_stacks()) if committed is None else committed
    m = NAME.match(name)
    if name in committed:
        return Verdict(name, False, "a committed stack")
    if not m:
        why = "tagged throwaway but not named tw-<base>-<id>" if tags.get(TAG_THROWAWAY) else ""
        return Verdict(name, False, why or "not a throwaway name")
    if tags.get(TAG_THROWAWAY) != "true":
        return Verdict(name, False, f"named like a throwaway but no {TAG_THROWAWAY}=true tag")
    base = tags.get(TAG_BASE, "")
    if base != m.group("base"):
        return Verdict(name, False, f"{TAG_BASE} {base!r} does not match its name")
    expires = parse_time(tags.get(TAG_EXPIRES, ""))
    if expires is None:
        return Verdict(name, False, f"no valid {TAG_EXPIRES} tag", base=base)
    return Verdict(name, True, base=base, expires=expires, owner=tags.get(TAG_OWNER, ""))


def remaining(expires: datetime, now: datetime) -> str:
    """'expired 3m ago' / 'expires in 2h05m'."""
    secs = int((expires - now).total_seconds())
    h, m = divmod(abs(secs) // 60, 60)
    span = f"{h}h{m:02d}m" if h else f"{m}m"
    return f"expires in {span}" if secs > 0 else f"expired {span} ago"
