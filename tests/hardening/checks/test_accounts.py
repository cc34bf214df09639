"""R30 R31 R32 R33 R34 R35 R36 R51 R68: accounts, PAM, password policy, sessions, umask."""

from __future__ import annotations

from typing import Any

import pytest

NOLOGIN = {"/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false"}
SPECIAL = {"sync": "/bin/sync", "shutdown": "/sbin/shutdown", "halt": "/sbin/halt"}


def passwd(host: Any) -> list[list[str]]:
    return [ln.split(":") for ln in host.file("/etc/passwd").content_string.splitlines() if ln]


def conf_value(text: str, key: str, sep: str = "=") -> str | None:
    """The last value of `key` in a `key = value` (or `key value` with sep " ") file."""
    value = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if sep == "=":
            k, eq, v = line.partition("=")
            if not eq:
                continue
        else:
            k, v = [*line.split(None, 1), ""][:2]
        if k.strip() == key:
            value = v.strip()
    return value


def test_r30_only_known_interactive_accounts(host: Any, expect: Any) -> None:
    allowed = set(expect("accounts", "interactive_users")) | {"deploy"}
    interactive = {f[0] for f in passwd(host) if f[6] not in NOLOGIN and SPECIAL.get(f[0]) != f[6]}
    assert interactive <= allowed, f"unexpected login accounts: {sorted(interactive - allowed)}"


@pytest.mark.parametrize("opt", ["minlen", "dcredit", "ucredit", "lcredit", "ocredit", "retry"])
def test_r31_pwquality(host: Any, expect: Any, opt: str) -> None:
    want = expect("accounts", f"pwquality.{opt}")
    got = conf_value(host.file("/etc/security/pwquality.conf").content_string, opt)
    assert got == str(want), f"pwquality {opt} = {got}, want {want}"
    assert host.package("libpam-pwquality").is_installed


@pytest.mark.parametrize("opt", ["deny", "fail_interval", "unlock_time", "dir"])
def test_r31_faillock(host: Any, expect: Any, opt: str) -> None:
    want = expect("accounts", f"faillock.{opt}")
    got = conf_value(host.file("/etc/security/faillock.conf").content_string, opt)
    assert got == str(want), f"faillock {opt} = {got}, want {want}"
    if opt == "dir":
        assert host.file(str(want)).is_directory


def test_r31_password_dictionary(host: Any) -> None:
    """pam_pwquality's dictionary check can load its dictionary (else every change fails)."""
    got = host.run("echo 'Xy7!pLm#9qRt2&Zw' | /usr/sbin/cracklib-check")
    assert got.rc == 0 and got.stdout.strip().endswith(": OK"), got.stdout + got.stderr


def test_r31_faillock_in_pam(host: Any) -> None:
    auth = host.file("/etc/pam.d/common-auth").content_string
    assert "pam_faillock.so preauth" in auth and "pam_faillock.so authfail" in auth
    assert "pam_faillock.so" in host.file("/etc/pam.d/common-account").content_string


def test_r31_password_history(host: Any, expect: Any) -> None:
    remember = expect("accounts", "pwhistory.remember")
    lines = host.file("/etc/pam.d/common-password").content_string.splitlines()
    hist = [ln.split() for ln in lines if "pam_pwhistory.so" in ln and not ln.startswith("#")]
    assert hist, "pam_pwhistory is not in common-password"
    assert hist[0][:3] == ["password", "requisite", "pam_pwhistory.so"], hist
    assert f"remember={remember}" in hist[0], hist


def test_r31_root_password_max_age(host: Any, expect: Any) -> None:
    days = expect("accounts", "root.max_days")
    root = next(ln.split(":") for ln in host.file("/etc/shadow").content_string.splitlines())
    assert root[0] == "root" and root[4] == str(days), f"root max age {root[4]}, want {days}"


def test_r32_shell_timeout(host: Any, expect: Any) -> None:
    tmout = expect("accounts", "shell.tmout")
    out = host.run("bash -lc 'echo $TMOUT; readonly -p | grep -c TMOUT'")
    assert out.stdout.split() == [str(tmout), "1"], f"login shell TMOUT: {out.stdout!r}"


def test_r32_logind_idle(host: Any, expect: Any) -> None:
    idle = expect("accounts", "logind.StopIdleSessionSec")
    out = host.run("systemd-analyze cat-config systemd/logind.conf")
    assert f"StopIdleSessionSec={idle}" in out.stdout


def test_r33_no_console_root_login(host: Any) -> None:
    f = host.file("/etc/securetty")
    assert f.exists and f.size == 0


def test_r34_system_accounts_no_shell(host: Any) -> None:
    bad = [
        f[0]
        for f in passwd(host)
        if 1 <= int(f[2]) <= 999 and f[6] not in NOLOGIN and SPECIAL.get(f[0]) != f[6]
    ]
    assert not bad, f"system accounts with a login shell: {bad}"


def test_r35_unique_accounts(host: Any) -> None:
    rows = passwd(host)
    uids = [f[2] for f in rows]
    names = [f[0] for f in rows]
    groups = [ln.split(":") for ln in host.file("/etc/group").content_string.splitlines() if ln]
    assert len(set(uids)) == len(uids), "duplicate UIDs"
    assert len(set(names)) == len(names), "duplicate account names"
    assert len({g[2] for g in groups}) == len(groups), "duplicate GIDs"


def test_r36_umask(host: Any, expect: Any) -> None:
    want = expect("accounts", "login.defs.UMASK")
    got = conf_value(host.file("/etc/login.defs").content_string, "UMASK", " ")
    assert got == want, f"login.defs UMASK {got}, want {want}"
    shell = expect("accounts", "shell.umask")
    out = host.run("bash -lc umask")
    assert out.stdout.strip().lstrip("0") == str(shell).lstrip("0"), out.stdout
    # Non-login interactive shells read only bash.bashrc.
    bashrc = host.file("/etc/bash.bashrc").content_string
    assert f"umask {shell}" in bashrc.splitlines(), "no umask in /etc/bash.bashrc"


def test_r51_no_default_credentials(host: Any) -> None:
    shadow = [ln.split(":") for ln in host.file("/etc/shadow").content_string.splitlines() if ln]
    empty = [f[0] for f in shadow if f[1] == ""]
    assert not empty, f"accounts with an empty password: {empty}"
    root = next(f for f in shadow if f[0] == "root")
    assert root[1].startswith(("!", "*")), "root has a usable password"


def test_r68_password_hashing(host: Any, expect: Any) -> None:
    method = expect("accounts", "login.defs.ENCRYPT_METHOD")
    assert conf_value(host.file("/etc/login.defs").content_string, "ENCRYPT_METHOD", " ") == method
    assert "yescrypt" in host.file("/etc/pam.d/common-password").content_string
    weak = [
        ln.split(":")[0]
        for ln in host.file("/etc/shadow").content_string.splitlines()
        if ln.split(":")[1].startswith(("$1$", "$2", "$5$"))
    ]
    assert not weak, f"weak password hashes: {weak}"


def test_r68_yescrypt_cost(host: Any, expect: Any) -> None:
    """New passwords get the chosen yescrypt cost, through PAM and through login.defs tools."""
    rounds = expect("accounts", "pam_unix.rounds")
    stores = [
        ln.split()
        for ln in host.file("/etc/pam.d/common-password").content_string.splitlines()
        if ln.startswith("password") and "pam_unix.so" in ln
    ]
    assert stores, "no pam_unix password line in common-password"
    assert all(f"rounds={rounds}" in ln for ln in stores), stores
    defs = host.file("/etc/login.defs").content_string
    assert conf_value(defs, "YESCRYPT_COST_FACTOR", " ") == str(
        expect("accounts", "login.defs.YESCRYPT_COST_FACTOR")
    )


def test_r68_pwquality_minclass(host: Any, expect: Any) -> None:
    want = expect("accounts", "pwquality.minclass")
    got = conf_value(host.file("/etc/security/pwquality.conf").content_string, "minclass")
    assert got == str(want)
