"""Egress: the services hosts' proxy (squid, an allow-list) and package cache (apt-cacher-ng);
every other host wired to them (apt, HTTP and HTTPS proxy)."""

from __future__ import annotations

import ipaddress
from typing import Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from hardening import certificates, ops, tier, tierops
from hardening.common import role_name

SQUID_CONF = "/etc/squid/squid.conf"
SQUID_LOGROTATE = "/etc/logrotate.d/squid"
ACNG_CONF = "/etc/apt-cacher-ng/zz-hdh.conf"
ACNG_SECURITY = "/etc/apt-cacher-ng/security.conf"
APT_PROXY = "/etc/apt/apt.conf.d/30hdh-proxy"
MANAGED = "# Managed by hdh hardening (services tier, docs/services.md): do not edit."


def allow_list(hdata: Any) -> tuple[list[str], list[str]]:
    """(domains, networks) the proxy lets through: the data's, then the stack's."""
    eg = tier.settings()["egress"]
    domains = list(eg.get("allow_domains") or [])
    networks = [str(ipaddress.IPv4Network(n)) for n in eg.get("allow_networks") or []]
    for entry in hdata.get("services_egress_allow") or []:
        try:
            networks.append(str(ipaddress.IPv4Network(entry)))
        except ValueError:
            domains.append(entry)
    return list(dict.fromkeys(domains)), list(dict.fromkeys(networks))


def squid_config(hdata: Any) -> str:
    eg = tier.settings()["egress"]
    domains, networks = allow_list(hdata)
    port = hdata["services_ports"]["proxy"]
    clients = " ".join(hdata["services_networks"])
    lines = [
        MANAGED,
        f"http_port {hdata['host_address']}:{port}",
        f"http_port 127.0.0.1:{port}",  # the package cache's way out
        f"acl hdh_clients src {clients}",
        f"acl hdh_http_ports port {' '.join(map(str, eg['http_ports']))}",
        f"acl hdh_connect_ports port {' '.join(map(str, eg['connect_ports']))}",
        "acl hdh_connect method CONNECT",
    ]
    allowed = []
    if networks:
        lines.append(f"acl hdh_allowed_networks dst {' '.join(networks)}")
        allowed.append("hdh_allowed_networks")
    if domains:
        # -n: match the URL's name only, never a reverse lookup of an address.
        lines.append(f"acl hdh_allowed_domains dstdomain -n {' '.join(domains)}")
        allowed.append("hdh_allowed_domains")
    lines += [
        "http_access deny !hdh_http_ports",
        "http_access deny hdh_connect !hdh_connect_ports",
        *(
            f"http_access allow {src} {acl}"
            for src in ("hdh_clients", "localhost")
            for acl in allowed
        ),
        "http_access deny all",  # everything else: 403, logged as TCP_DENIED
        "cache deny all",  # a proxy, not a cache: packages are cached by apt-cacher-ng
        "access_log daemon:/var/log/squid/access.log squid",
        "logfile_rotate 0",  # logrotate rotates (below)
        "via off",
        "forwarded_for delete",
        "httpd_suppress_version_string on",
        "coredump_dir /var/spool/squid",
    ]
    return "\n".join(lines) + "\n"


def squid_logrotate() -> str:
    days = tier.settings()["egress"]["log_retention_days"]
    return (
        f"{MANAGED}\n/var/log/squid/*.log {{\n\tdaily\n\trotate {days}\n\tmaxage {days}\n"
        "\tcompress\n\tdelaycompress\n\tmissingok\n\tnocreate\n\tsharedscripts\n\tpostrotate\n"
        "\t\ttest ! -e /run/squid.pid || /usr/sbin/squid -k rotate\n\tendscript\n}\n"
    )


def acng_config(hdata: Any) -> str:
    ports = hdata["services_ports"]
    return (
        f"{MANAGED}\n"
        f"Port: {ports['cache']}\n"
        f"BindAddress: {hdata['host_address']}\n"
        # Upstream through the proxy: the allow-list holds for the cache too.
        f"Proxy: http://127.0.0.1:{ports['proxy']}\n"
        f"ExThreshold: {tier.settings()['cache']['keep_days']}\n"
        # No CONNECT tunnels through the cache: HTTPS goes to the proxy.
        "PassThroughPattern: ^$\n"
    )


def apt_proxy(hdata: Any) -> str:
    server, ports = hdata["proxy_host"], hdata["services_ports"]
    return (
        f"// {MANAGED[2:]}\n"
        f'Acquire::http::Proxy "http://{server}:{ports["cache"]}/";\n'
        f'Acquire::https::Proxy "http://{server}:{ports["proxy"]}/";\n'
    )


def environment(hdata: Any) -> str:
    server, port = hdata["proxy_host"], hdata["services_ports"]["proxy"]
    url = f"http://{server}:{port}/"
    no_proxy = "localhost,127.0.0.1,::1"
    return "\n".join(
        f"{k}={v}"
        for k, v in (
            ("http_proxy", url),
            ("https_proxy", url),
            ("no_proxy", no_proxy),
            ("HTTP_PROXY", url),
            ("HTTPS_PROXY", url),
            ("NO_PROXY", no_proxy),
        )
    )


@deploy("Egress through the services tier")
def egress() -> None:
    if not certificates.wired():
        return
    if role_name() == tier.SERVICES_ROLE:
        _proxy_and_cache()
        return
    ops.validated_file(
        name="apt through the services tier (packages: cache, HTTPS: proxy)",
        path=APT_PROXY,
        content=apt_proxy(tier.wiring_of(host.data)),
        validate="apt-config -c {} dump >/dev/null",
    )
    files.block(
        name="HTTP(S) proxy for every session (/etc/environment)",
        path="/etc/environment",
        content=environment(tier.wiring_of(host.data)),
        marker="# {mark} hdh services tier proxy",
    )


def _proxy_and_cache() -> None:
    tierops.fetched_packages(
        name="egress proxy and package cache installed", packages=["squid", "apt-cacher-ng"]
    )
    ops.validated_file(
        name="egress proxy: allow-list only, the rest refused and logged",
        path=SQUID_CONF,
        content=squid_config(tier.wiring_of(host.data)),
        validate="squid -k parse -f {} 2>&1 | grep -E 'FATAL|ERROR' >&2 && exit 1 || true",
        activate="systemctl reload-or-restart squid.service",
    )
    ops.validated_file(
        name="egress proxy: access log kept per the retention",
        path=SQUID_LOGROTATE,
        content=squid_logrotate(),
        validate="logrotate -d {} >/dev/null 2>&1",
    )
    ops.unit_running(name="egress proxy running", unit="squid.service")
    # The report page's maintenance actions need a password (random, kept on the host only).
    ops.unless_present(
        name="package cache: admin pages behind a password",
        path=ACNG_SECURITY,
        pattern="^AdminAuth:",
        command=(
            f"printf 'AdminAuth: hdh:%s\\n' \"$(head -c 24 /dev/urandom | base64 | tr -d '/+=')\" "
            f">> {ACNG_SECURITY}"
        ),
    )
    ops.validated_file(
        name="package cache: upstream through the proxy",
        path=ACNG_CONF,
        content=acng_config(tier.wiring_of(host.data)),
        activate="systemctl restart apt-cacher-ng.service",
    )
    ops.unit_running(name="package cache running", unit="apt-cacher-ng.service")
