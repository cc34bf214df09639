"""Swift container ACLs read as Swift reads them (our own code, same interpretation).

What Swift does with an `X-Container-Read`/`X-Container-Write` value, from the source of
openstack/swift (swift/common/middleware/acl.py `clean_acl`, `parse_acl_v1`,
`referrer_allowed`; keystoneauth.py `_authorize_cross_tenant`, `_authorize_unconfirmed_identity`):

1. The proxy cleans the header before storing it: split on ",", strip whitespace around each
   item, drop empty items. An item without ":" is kept as is. In `first:second` (both stripped),
   a `first` not starting with "." is kept as is (the raw item); `.r`, `.ref`, `.referer` and
   `.referrer` are all the referrer designation and become `.r:`; a leading "-" on the value
   negates it; a value starting with "*" other than "*" alone loses the "*" (`*.example.com` ->
   `.example.com`); an empty value, or any other designator starting with ".", makes Swift refuse
   the header (400). Referrers are refused in a write ACL.
2. When authorising, items are split on "," again; `.r:` items are referrers, every other item
   is URL-unquoted (`%2A:%2A` is `*:*`).
3. Referrers are evaluated in order, the last match winning: `*` matches any referrer, a value
   starting with "." matches hosts ending with it, a "-" item revokes only what it names exactly
   (`.r:-*` revokes nothing). The Referer header is whatever the client sends: any granting
   referrer item lets anyone read objects; `.rlistings` adds container listings.
4. Keystone: an item `project:user` grants when it equals the caller's `project_id:user_id`
   (or names, when allowed), either part possibly `*`: `*:*` is every authenticated user of
   every project of the cloud; `*:name` is anyone, in any project, holding that user name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

REFERRER_DESIGNATORS = (".r", ".ref", ".referer", ".referrer")
USER_ID = re.compile(r"^[0-9a-f]{32}$")  # Keystone ids; names may be held by anyone


@dataclass
class Acl:
    referrers: list[str] = field(default_factory=list)  # as Swift stores them, without ".r:"
    groups: list[str] = field(default_factory=list)  # unquoted, as keystoneauth compares them
    invalid: list[str] = field(default_factory=list)  # items Swift would refuse


def clean(value: str, header: str = "read") -> list[str]:
    """The items Swift stores for `value` (step 1); refused items are prefixed with '!'."""
    out = []
    for raw in value.split(","):
        raw = raw.strip()
        if not raw:
            continue
        if ":" not in raw:
            out.append(raw)
            continue
        first, second = (v.strip() for v in raw.split(":", 1))
        if not first or not first.startswith("."):
            out.append(raw)
        elif first in REFERRER_DESIGNATORS and "write" not in header:
            negate = second.startswith("-")
            if negate:
                second = second[1:].strip()
            if second and second != "*" and second.startswith("*"):
                second = second[1:].strip()
            if not second or second == ".":
                out.append(f"!{raw}")
            else:
                out.append(f".r:{'-' if negate else ''}{second}")
        else:
            out.append(f"!{raw}")
    return out


def parse(value: str, header: str = "read") -> Acl:
    acl = Acl()
    for item in clean(value, header):
        if item.startswith("!"):
            acl.invalid.append(item[1:])
        elif item.startswith(".r:"):
            acl.referrers.append(item[3:])
        else:
            acl.groups.append(unquote(item))
    return acl


def referrer_grants(referrers: list[str]) -> list[str]:
    """The referrer items that grant: any non-negated one (the client picks its Referer)."""
    return [r for r in referrers if not r.startswith("-")]


def too_wide(group: str) -> str | None:
    """Why a keystone ACL item reaches beyond one project's or one user's, or None."""
    if ":" not in group:
        return None  # a role name: only users of the container's own project
    project, user = group.split(":", 1)
    if project == "*" and user == "*":
        return "every authenticated user of every project in the cloud"
    if project == "*" and not USER_ID.fullmatch(user):
        return f"anyone in any project who holds the user name {user!r}"
    return None
