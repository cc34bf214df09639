"""R33 R63 R67 R79: the effective sshd configuration (`sshd -T`) has the hardened values."""

from __future__ import annotations

from typing import Any

import pytest

from hardening import data, ssh


@pytest.fixture(scope="module")
def sshd_t(host: Any) -> dict[str, str]:
    out = host.run("sshd -T -C user=deploy,host=localhost,addr=127.0.0.1")
    assert out.rc == 0, out.stderr
    conf: dict[str, str] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        conf.setdefault(key, value)
    return conf


def check(sshd_t: dict[str, str], expect: Any, key: str) -> None:
    want = str(expect("ssh", key))
    got = sshd_t.get(key.lower())
    assert got is not None, f"{key} not in sshd -T"
    assert got.split(",") == want.split(",") or got == want, f"{key} is {got!r}, want {want!r}"


def keys(rnum: str) -> list[str]:
    return sorted(s.key for s in data.baseline("ssh", "high").values() if s.control == rnum)


@pytest.mark.parametrize("key", keys("R33"))
def test_r33_sshd_no_root_login(sshd_t: dict[str, str], expect: Any, key: str) -> None:
    check(sshd_t, expect, key)


@pytest.mark.parametrize("key", keys("R63"))
def test_r63_sshd_minimal_features(sshd_t: dict[str, str], expect: Any, key: str) -> None:
    check(sshd_t, expect, key)


@pytest.mark.parametrize("key", keys("R67"))
def test_r67_sshd_key_authentication(sshd_t: dict[str, str], expect: Any, key: str) -> None:
    check(sshd_t, expect, key)


@pytest.mark.parametrize("key", keys("R79"))
def test_r79_sshd_hardened(sshd_t: dict[str, str], expect: Any, key: str) -> None:
    check(sshd_t, expect, key)


def test_r79_sshd_drop_in_private(host: Any) -> None:
    f = host.file(ssh.DROP_IN)
    assert f.exists and f.user == "root" and f.mode == 0o600


def test_r67_no_remote_pam_modules(host: Any) -> None:
    out = host.run("grep -rlE 'pam_(ldap|krb5|radius|sss|winbind)' /etc/pam.d || true")
    assert out.stdout.strip() == "", f"remote authentication modules in PAM: {out.stdout}"


def test_r69_nsswitch_local_only(host: Any) -> None:
    allowed = {"files", "systemd", "compat", "myhostname", "[NOTFOUND=return]", "[success=merge]"}
    for line in host.file("/etc/nsswitch.conf").content_string.splitlines():
        db, _, sources = line.partition(":")
        if db.strip() in ("passwd", "group", "shadow", "gshadow"):
            extra = set(sources.split()) - allowed
            assert not extra, f"{db.strip()} uses remote sources {sorted(extra)} (need TLS review)"
