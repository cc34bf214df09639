"""Names every room checks the same way: users, hosts, identifiers; the deploy user's default."""

from __future__ import annotations

import ipaddress
import re

#: The deploy user cloud-init creates and hardening connects as, when config names none.
#: Pulumi.yaml declares the same default for the engine (a test keeps the two equal).
DEPLOY_USER = "deploy"

#: A login name as Debian's adduser accepts it by default (NAME_REGEX, adduser.conf(5)):
#: lower-case letter or underscore first, then letters, digits, `_` and `-`, 32 at most.
USER_NAME = r"^[a-z_][a-z0-9_-]{0,31}$"

#: A plain identifier (profile names, host aliases): no path, no dot-dot, no spaces.
IDENTIFIER = r"^[a-z][a-z0-9-]{0,62}$"

_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_USER = re.compile(USER_NAME)


def is_user_name(value: object) -> bool:
    return isinstance(value, str) and _USER.fullmatch(value) is not None


def is_host(value: object) -> bool:
    """An IPv4/IPv6 address or a DNS host name (RFC 1123 labels), nothing else."""
    if not isinstance(value, str) or not value or len(value) > 253:
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    labels = value.removesuffix(".").split(".")
    # A name made of digits and dots only would be read as an (invalid) address: refused.
    if all(label.isdigit() for label in labels):
        return False
    return all(_LABEL.fullmatch(label) for label in labels)


def is_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_problem(url: object) -> str | None:
    """Why `url` is not an acceptable API endpoint (TLS, no credentials, a host), or None.

    Plain http is accepted on loopback only (a test cloud on this machine). The message never
    repeats the URL: it may hold a password.
    """
    from urllib.parse import urlsplit

    if not isinstance(url, str) or not url:
        return "not a URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError on a bad port
    except ValueError:
        return "not a valid URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "holds credentials (user:password@): use OS_* variables or clouds.yaml"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "holds spaces or control characters"
    if not parts.hostname or not is_host(parts.hostname.strip("[]")):
        return "has no valid host name"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return None
    return f"scheme {parts.scheme or '(none)'}: only https:// (http:// on loopback only)"


def endpoint_key(url: str) -> str:
    """The comparable form of an endpoint: scheme and host lower-cased, default port and any
    trailing slash dropped (https://Auth.example:443/v3/ == https://auth.example/v3)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    port = parts.port
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != default:
        netloc += f":{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"
