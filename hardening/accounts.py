"""Accounts, PAM and password policy: ANSSI BP-028 R31, R32, R33, R34, R36, R68."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from hardening import ops
from hardening.common import DROP_IN_PREFIX, by_control, settings

PWQUALITY = "/etc/security/pwquality.conf"
FAILLOCK = "/etc/security/faillock.conf"
LOGIN_DEFS = "/etc/login.defs"
PAM_CONFIGS = "/usr/share/pam-configs"
# pam-auth-update profiles in the shape Debian's own packages use: `preauth` before pam_unix
# (priority 1024), `authfail` then `authsucc` after it (priority 0), and the account hook that
# resets counts. The auth lines are pam_faillock(8)'s own example (`required` preauth, `authsucc`
# after `authfail`), which is also the layout SSG's checks expect.
FAILLOCK_PROFILE = """Name: ANSSI R31: count failed logins and lock (pam_faillock authfail)
Default: yes
Priority: 0
Auth-Type: Primary
Auth:
	[default=die]	pam_faillock.so authfail
	sufficient	pam_faillock.so authsucc
"""
FAILLOCK_NOTIFY_PROFILE = """Name: ANSSI R31: refuse locked accounts (pam_faillock preauth)
Default: yes
Priority: 1024
Auth-Type: Primary
Auth:
	required	pam_faillock.so preauth
Account-Type: Primary
Account:
	required	pam_faillock.so
"""
# Between pam_pwquality (1024, asks for the new password) and pam_unix (256, stores it).
PWHISTORY_PROFILE = """Name: ANSSI R31: refuse the last {remember} passwords (pam_pwhistory)
Default: yes
Priority: 512
Password-Type: Primary
Password:
	requisite	pam_pwhistory.so remember={remember} use_authtok
Password-Initial:
	requisite	pam_pwhistory.so remember={remember}
"""
# `declare -xr` is the form SSG's check reads; dash (sh) has no declare, so it gets the POSIX form.
TMOUT_SCRIPT = """# ANSSI {control}: idle interactive shells end after {value} s
if [ -n "${{BASH_VERSION:-}}" ]; then
    declare -xr TMOUT={value}
else
    readonly TMOUT={value}
    export TMOUT
fi
"""
# Debian 12's own `unix` profile (libpam-runtime) with the yescrypt cost on the lines that store a
# password. pam-auth-update owns /etc/pam.d/common-*: a hand edit there would make it stop
# updating them, so the cost comes in a profile that replaces `unix` (`--disable unix`).
UNIX_PROFILE = """Name: Unix authentication (ANSSI {control}: {hash})
Default: yes
Priority: 256
Auth-Type: Primary
Auth:
	[success=end default=ignore]	pam_unix.so nullok try_first_pass
Auth-Initial:
	[success=end default=ignore]	pam_unix.so nullok
Account-Type: Primary
Account:
	[success=end new_authtok_reqd=done default=ignore]	pam_unix.so
Account-Initial:
	[success=end new_authtok_reqd=done default=ignore]	pam_unix.so
Session-Type: Additional
Session:
	required	pam_unix.so
Session-Initial:
	required	pam_unix.so
Password-Type: Primary
Password:
	[success=end default=ignore]	pam_unix.so obscure use_authtok try_first_pass {hash}
Password-Initial:
	[success=end default=ignore]	pam_unix.so obscure {hash}
"""
PAM_AUTH_UPDATE = "DEBIAN_FRONTEND=noninteractive pam-auth-update --enable"


def _kv(path: str, key: str, value: object, sep: str = " = ", name: str = "") -> None:
    # Matches the key commented or not, so Debian's commented defaults are replaced in place.
    files.line(
        name=name,
        path=path,
        line=rf"^[#[:space:]]*{key}([[:space:]]|=|$)",
        replace=f"{key}{sep}{value}",
        extended_regex=True,  # the alternation above is ERE: in grep's BRE it never matched
    )


@deploy("Password policy and lockout (R31 R68)")
def password_policy() -> None:
    s = settings("accounts")
    if "faillock.dir" in s:
        # Failure records kept on disk: a reboot must not reset a lock (Debian's default is /run).
        files.directory(
            name=f"{s['faillock.dir'].control} faillock records directory",
            path=str(s["faillock.dir"].value),
            user="root",
            group="root",
            mode="0755",
        )
    for key, setting in s.items():
        if key.startswith("pwquality."):
            opt = key.split(".", 1)[1]
            _kv(PWQUALITY, opt, setting.value, name=f"{setting.control} pwquality {opt}")
        elif key.startswith("faillock."):
            opt = key.split(".", 1)[1]
            _kv(FAILLOCK, opt, setting.value, name=f"{setting.control} faillock {opt}")
    profiles = {"hdh-faillock": FAILLOCK_PROFILE, "hdh-faillock-notify": FAILLOCK_NOTIFY_PROFILE}
    if "pwhistory.remember" in s:
        profiles["hdh-pwhistory"] = PWHISTORY_PROFILE.format(remember=s["pwhistory.remember"].value)
    for profile, content in profiles.items():
        # A changed profile is only used once pam-auth-update rewrites the common-* files.
        ops.validated_file(
            name=f"R31 pam-auth-update profile {profile}",
            path=f"{PAM_CONFIGS}/{profile}",
            content=content,
            activate=f"{PAM_AUTH_UPDATE} {profile}",
        )
    if "pam_unix.rounds" in s:
        rounds = s["pam_unix.rounds"]
        enable = f"{PAM_AUTH_UPDATE} hdh-unix --disable unix"
        ops.validated_file(
            name=f"{rounds.control} pam-auth-update profile hdh-unix (rounds={rounds.value})",
            path=f"{PAM_CONFIGS}/hdh-unix",
            content=UNIX_PROFILE.format(
                control=rounds.control, hash=f"yescrypt rounds={rounds.value}"
            ),
            activate=enable,
        )
        ops.unless_present(
            name=f"{rounds.control} pam_unix stores passwords with yescrypt cost {rounds.value}",
            path="/etc/pam.d/common-password",
            pattern=rf"^password\s.*pam_unix\.so .*yescrypt rounds={rounds.value}$",
            command=enable,
        )
    ops.unless_present(
        name="R31 pam_faillock enabled in common-auth",
        path="/etc/pam.d/common-auth",
        pattern="pam_faillock.so authsucc",
        command=f"{PAM_AUTH_UPDATE} hdh-faillock hdh-faillock-notify",
    )
    if "root.max_days" in s:
        days = s["root.max_days"].value
        ops.unless_present(
            name=f"R31 root password maximum age {days} days",
            path="/etc/shadow",
            pattern=f"^root:[^:]*:[^:]*:[^:]*:{days}:",
            command=f"chage -M {days} root",
        )
    for key, setting in s.items():
        if key.startswith("login.defs."):
            opt = key.split(".", 2)[2]
            files.line(
                name=f"{setting.control} login.defs {opt} {setting.value}",
                path=LOGIN_DEFS,
                line=rf"^{opt}[[:space:]]",
                replace=f"{opt}\t\t{setting.value}",
            )


@deploy("Sessions and umask (R32 R36)")
def sessions() -> None:
    s = settings("accounts")
    if "shell.tmout" in s:
        tmout = s["shell.tmout"]
        ops.validated_file(
            name=f"{tmout.control} shell idle timeout TMOUT={tmout.value}",
            path=f"/etc/profile.d/{DROP_IN_PREFIX}-tmout.sh",
            content=TMOUT_SCRIPT.format(control=tmout.control, value=tmout.value),
        )
    if "logind.StopIdleSessionSec" in s:
        idle = s["logind.StopIdleSessionSec"]
        ops.validated_file(
            name=f"{idle.control} logind stops idle sessions after {idle.value}s",
            path=f"/etc/systemd/logind.conf.d/{DROP_IN_PREFIX}.conf",
            content=f"[Login]\nStopIdleSessionSec={idle.value}\n",
            activate="systemctl try-reload-or-restart systemd-logind.service",
        )
    if "shell.umask" in s:
        umask = s["shell.umask"]
        ops.validated_file(
            name=f"{umask.control} shell umask {umask.value}",
            path=f"/etc/profile.d/{DROP_IN_PREFIX}-umask.sh",
            content=f"# ANSSI {umask.control}\numask {umask.value}\n",
        )
        # Interactive shells that are not login shells (terminals, `su`) read bash.bashrc only.
        files.line(
            name=f"{umask.control} bash.bashrc umask {umask.value}",
            path="/etc/bash.bashrc",
            line=r"^[[:space:]]*umask[[:space:]]",
            replace=f"umask {umask.value}",
        )


@deploy("Administration and service accounts (R33 R34)")
def admin_accounts() -> None:
    c = by_control("accounts")
    if c.get("R33", {}).get("securetty.empty"):
        ops.validated_file(
            name="R33 no direct root login on consoles (empty /etc/securetty)",
            path="/etc/securetty",
            content="",
            mode="0600",
        )
    if c.get("R34", {}).get("system_accounts.nologin"):
        ops.system_accounts_nologin(name="R34 system accounts have no login shell")


@deploy("Accounts, passwords and sessions (R31 R32 R33 R34 R36 R68)")
def accounts() -> None:
    password_policy()
    sessions()
    admin_accounts()
