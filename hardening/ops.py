"""Custom pyinfra operations for hardening: container-aware, validated before activation."""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
from collections.abc import Generator, Mapping, Sequence
from typing import Any

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation
from pyinfra.api.util import try_int
from pyinfra.facts.files import Directory, File, FindInFile, Sha1File
from pyinfra.facts.server import Mounts, Sysctl
from pyinfra.operations import files

from hardening.facts import (
    Accounts,
    HostKind,
    OpenHomeFiles,
    PathExists,
    StatOverride,
    UnitState,
    UserGroups,
    WorldWritableDirs,
)

PENDING_DIR = "/run/hdh-pending"
NOLOGIN = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false")
# Accounts whose non-shell "shell" is their purpose (Debian base-passwd).
SPECIAL_SHELLS = {"sync": "/bin/sync", "shutdown": "/sbin/shutdown", "halt": "/sbin/halt"}
FLAG_OPTIONS = ("ro", "nosuid", "nodev", "noexec")

Commands = Generator[StringCommand | str, None, None]


def in_container() -> bool:
    # Asked by most operations: read once per host object (one run), not once per operation.
    kind = getattr(host, "hdh_kind", None)
    if kind is None:
        kind = host.get_fact(HostKind)
        host.hdh_kind = kind  # type: ignore[attr-defined]  # a per-run cache on the host object
    return bool(kind == "container")


def _mode(mode: str) -> int:
    return int(mode.lstrip("0") or "0")


@operation()
def skipped(reason: str) -> Commands:
    """
    Record a control that does not apply to this host, with the reason (always a no-op).

    + reason: why nothing is done here (shown in pyinfra's output and logs)

    **Example:**

    .. code:: python

        skipped(name="R9 kernel parameters", reason="container: shares the host's kernel")
    """
    host.noop(reason)
    yield from ()


@operation()
def sysctls(values: Mapping[str, int | str]) -> Commands:
    """
    Set kernel parameters on the running kernel, skipping those that cannot apply here.

    + values: sysctl names to wanted values (a string with spaces for multi-valued keys)

    Containers:
        A container shares its host's kernel: only keys of its own network namespace can be
        set. Other keys, and net.* keys the namespace does not have, are skipped with a reason.

    Persistence is the caller's: one whole sysctl.d file (see hardening/kernel.py), so a value
    that changes is replaced rather than appended.

    **Example:**

    .. code:: python

        sysctls(name="R9 kernel configuration options", values={"kernel.kptr_restrict": 2})
    """
    container = in_container()
    current = host.get_fact(Sysctl, keys=sorted(values))
    skipped_keys, changed = [], False
    for key, value in values.items():
        if container and (not key.startswith("net.") or key not in current):
            skipped_keys.append(key)
            continue
        want = [try_int(v) for v in str(value).split()]
        if current.get(key) != (want[0] if len(want) == 1 else want):
            changed = True
            yield StringCommand("sysctl", "-w", QuoteString(f"{key}={value}"))
    if skipped_keys:
        host.noop(f"container: {', '.join(skipped_keys)} not settable (host kernel or namespace)")
    if not changed:
        host.noop("every applicable kernel parameter already has its value")


@operation()
def validated_file(
    path: str,
    content: str,
    mode: str = "0644",
    user: str = "root",
    group: str = "root",
    validate: str | None = None,
    check_after: str | None = None,
    activate: str | None = None,
) -> Commands:
    """
    Install a whole configuration file only if it validates, then activate it.

    + path: the file to manage
    + content: its full wanted content
    + mode/user/group: wanted permissions
    + validate: command checking the *new* file before it is installed; ``{}`` is its path
    + check_after: command checking the installed configuration; on failure the previous file
      is put back and the operation fails (for programs that cannot check a single file)
    + activate: command making the running service use the file (reload, load rules)

    Interruption:
        A marker under /run/hdh-pending is created before the file changes and removed after
        activation, so a run interrupted in between activates on the next run.

    **Example:**

    .. code:: python

        validated_file(name="R39 sudo defaults", path="/etc/sudoers.d/00-hdh-anssi",
                       content=text, mode="0440", validate="visudo -cf {}")
    """
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path.strip("/"))
    marker = f"{PENDING_DIR}/{slug}"
    want_sha = hashlib.sha1(content.encode()).hexdigest()
    current_sha = host.get_fact(Sha1File, path=path)
    pending = bool(activate) and host.get_fact(PathExists, path=marker)

    if current_sha == want_sha and not pending:
        info: dict[str, Any] = dict(host.get_fact(File, path=path) or {})
        if info.get("mode") != _mode(mode):
            yield StringCommand("chmod", mode, QuoteString(path))
        if (info.get("user"), info.get("group")) != (user, group):
            yield StringCommand("chown", f"{user}:{group}", QuoteString(path))
        if info.get("mode") == _mode(mode) and (info.get("user"), info.get("group")) == (
            user,
            group,
        ):
            host.noop(f"{path} is already up to date")
        return

    if current_sha != want_sha:
        new = f"{path}.hdh-new"
        if activate:
            yield StringCommand("mkdir", "-p", PENDING_DIR, "&&", "touch", QuoteString(marker))
        yield StringCommand(
            "mkdir",
            "-p",
            QuoteString(posixpath.dirname(path)),
            "&&",
            "printf",
            "'%s'",
            QuoteString(content),
            ">",
            QuoteString(new),
        )
        yield StringCommand("chown", f"{user}:{group}", QuoteString(new))
        yield StringCommand("chmod", mode, QuoteString(new))
        if validate:
            check = validate.replace("{}", shlex.quote(new))
            yield StringCommand(
                "(",
                check,
                ")",
                "||",
                "{",
                "rm",
                "-f",
                QuoteString(new),
                ";",
                "echo",
                QuoteString(f"validation failed ({validate}), {path} left unchanged"),
                ">&2",
                ";",
                "exit",
                "1",
                ";",
                "}",
            )
        if check_after:
            old = f"{path}.hdh-old"
            exists = current_sha is not None
            restore = f"mv -f {old} {path}" if exists else f"rm -f {path}"
            if exists:
                yield StringCommand("cp", "-p", QuoteString(path), QuoteString(old))
            yield StringCommand("mv", "-f", QuoteString(new), QuoteString(path))
            yield StringCommand(
                "(",
                check_after,
                ")",
                "||",
                "{",
                restore,
                ";",
                "rm",
                "-f",
                QuoteString(marker),
                ";",
                "echo",
                QuoteString(f"{check_after} rejected the new {path}: previous file restored"),
                ">&2",
                ";",
                "exit",
                "1",
                ";",
                "}",
            )
            if exists:
                yield StringCommand("rm", "-f", QuoteString(old))
        else:
            yield StringCommand("mv", "-f", QuoteString(new), QuoteString(path))
    if activate:
        yield StringCommand("(", activate, ")", "&&", "rm", "-f", QuoteString(marker))


@operation()
def sshd_drop_in(path: str, settings: Mapping[str, Any], deploy_user: str) -> Commands:
    """
    Write an sshd drop-in that cannot lock out the deploying user, check it, reload sshd.

    + path: drop-in under /etc/ssh/sshd_config.d (Debian's sshd_config includes it first)
    + settings: sshd keywords to values (lists are joined with spaces)
    + deploy_user: the account pyinfra connects as; it must keep key login

    Guards:
        Refuses (OperationError) settings that would cut the deploy user's key login: public key
        authentication off, the user missing from AllowUsers or present in DenyUsers. With
        AllowGroups, the user is first added to the first listed group if it is in none of them.
        The whole configuration is checked with ``sshd -t`` and the previous drop-in restored if
        it fails; sshd is only reloaded after a successful check.

    **Example:**

    .. code:: python

        sshd_drop_in(name="R79 sshd drop-in", path="/etc/ssh/sshd_config.d/00-hdh-anssi.conf",
                     settings={"PermitRootLogin": "no"}, deploy_user="deploy")
    """
    lines = {
        k: " ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in settings.items()
    }
    if lines.get("PubkeyAuthentication", "yes").lower() != "yes":
        raise OperationError(
            f"refusing PubkeyAuthentication={lines['PubkeyAuthentication']}: "
            f"{deploy_user} logs in with a key"
        )
    methods = lines.get("AuthenticationMethods", "publickey")
    if "publickey" not in methods and methods != "any":
        raise OperationError(f"refusing AuthenticationMethods={methods}: no public key method")
    if "AllowUsers" in lines and deploy_user not in lines["AllowUsers"].split():
        raise OperationError(f"refusing AllowUsers without the deploy user {deploy_user}")
    if deploy_user in lines.get("DenyUsers", "").split():
        raise OperationError(f"refusing DenyUsers with the deploy user {deploy_user}")
    if "AllowGroups" in lines:
        allowed = lines["AllowGroups"].split()
        groups = host.get_fact(UserGroups, user=deploy_user)
        if groups is None:
            raise OperationError(f"deploy user {deploy_user} does not exist on this host")
        if not set(groups) & set(allowed):
            yield StringCommand(
                "getent",
                "group",
                allowed[0],
                ">/dev/null",
                "||",
                "groupadd",
                "--system",
                allowed[0],
            )
            yield StringCommand("usermod", "-a", "-G", allowed[0], QuoteString(deploy_user))
    content = "# Managed by hdh hardening (ANSSI BP-028): do not edit.\n" + "".join(
        f"{key} {value}\n" for key, value in lines.items()
    )
    yield from validated_file._inner(
        path=path,
        content=content,
        mode="0600",
        check_after="sshd -t",
        activate="systemctl reload ssh.service",
    )


@operation()
def mount(
    path: str, device: str, fstype: str, options: Sequence[str], extra: Sequence[str] = ()
) -> Commands:
    """
    Mount a file system with security options, in /etc/fstab and on the live mount.

    + path: mount point (``/tmp``, ``/dev/shm``, ``/var/tmp``)
    + device/fstype: fstab fields (``tmpfs tmpfs``; ``/var/tmp none`` with ``bind`` in extra)
    + options: security flags that must be present (nosuid, nodev, noexec, ro)
    + extra: other fstab options (mode=1777, bind)

    Live mount:
        Not mounted: ``mount PATH`` after fstab is written. Mounted with missing flags:
        ``mount -o remount,...``; a bind mount is remounted with ``bind`` so only its own flags
        change.

    **Example:**

    .. code:: python

        mount(name="R28 /tmp nosuid,nodev,noexec", path="/tmp", device="tmpfs",
              fstype="tmpfs", options=["nosuid", "nodev", "noexec"], extra=["mode=1777"])
    """
    opts = ",".join(["rw", *extra, *options])
    line = f"{device} {path} {fstype} {opts} 0 0"
    yield from files.line._inner(
        path="/etc/fstab",
        line=rf"^[^#[:space:]]+[[:space:]]+{re.escape(path)}[[:space:]]",
        replace=line,
    )
    current = host.get_fact(Mounts).get(path)
    if current is None:
        yield StringCommand("mount", QuoteString(path))
        return
    missing = [o for o in options if o in FLAG_OPTIONS and o not in current["options"]]
    if missing:
        bind = ["bind"] if "bind" in extra else []
        remount = ",".join(["remount", *bind, *options])
        yield StringCommand("mount", "-o", remount, QuoteString(path))
    else:
        host.noop(f"{path} is mounted with {','.join(options)}")


@operation()
def system_accounts_nologin(uid_min: int = 1, uid_max: int = 999) -> Commands:
    """
    Give every system account (uid_min..uid_max) a non-login shell.

    + uid_min/uid_max: the system uid range (Debian: 1-999; root is never touched)

    **Example:**

    .. code:: python

        system_accounts_nologin(name="R34 system accounts have no login shell")
    """
    changed = False
    for name, acc in sorted(host.get_fact(Accounts).items()):
        uid = int(acc["uid"])  # type: ignore[call-overload]
        if not uid_min <= uid <= uid_max or SPECIAL_SHELLS.get(name) == acc["shell"]:
            continue
        if acc["shell"] not in NOLOGIN:
            changed = True
            yield StringCommand("usermod", "-s", "/usr/sbin/nologin", QuoteString(name))
    if not changed:
        host.noop("every system account already has a non-login shell")


@operation()
def sticky_world_writable() -> Commands:
    """
    Set the sticky bit on every world-writable directory of the local file systems.

    **Example:**

    .. code:: python

        sticky_world_writable(name="R54 sticky bit on world-writable directories")
    """
    dirs = host.get_fact(WorldWritableDirs)
    if not dirs:
        host.noop("every world-writable directory has the sticky bit")
    for path in dirs:
        yield StringCommand("chmod", "+t", QuoteString(path))


@operation()
def private_homes() -> Commands:
    """
    Close interactive users' home directories to others: 0750 at most, 0740 for start-up files.

    Accounts with uid >= 1000 and a login shell are interactive (nobody excluded). Symbolic
    links are left alone; suid, sgid and sticky bits, group write and every bit for others go.

    **Example:**

    .. code:: python

        private_homes(name="R50 interactive users' home files 0750 at most")
    """
    found = host.get_fact(OpenHomeFiles)
    if not found:
        host.noop("every file in interactive users' homes is 0750 or closer")
    for kind, path in found:
        mode = "u-s,g-wxs,o-rwxt" if kind == "init" else "u-s,g-ws,o-rwxt"
        yield StringCommand("chmod", mode, QuoteString(path))


@operation()
def statoverride(path: str, user: str, group: str, mode: str) -> Commands:
    """
    Pin a packaged file's owner and mode with dpkg-statoverride (survives package upgrades).

    + path: packaged file, e.g. ``/usr/bin/sudo``
    + user/group/mode: wanted ownership and mode (``4750``)

    **Example:**

    .. code:: python

        statoverride(name="R38 sudo for group sudo only", path="/usr/bin/sudo",
                     user="root", group="sudo", mode="4750")
    """
    current = host.get_fact(StatOverride, path=path)
    want = {"user": user, "group": group, "mode": mode.lstrip("0")}
    if current == want:
        host.noop(f"{path} is already overridden as {user}:{group} {mode}")
        return
    if current is not None:
        yield StringCommand("dpkg-statoverride", "--remove", QuoteString(path))
    yield StringCommand(
        "dpkg-statoverride", "--update", "--add", user, group, mode, QuoteString(path)
    )


@operation()
def run_once(path: str, command: str) -> Commands:
    """
    Run a command that creates `path`, unless `path` exists (database builds, first inits).

    + path: what the command produces
    + command: the command to run

    **Example:**

    .. code:: python

        run_once(name="R79 AIDE database", path="/var/lib/aide/aide.db", command="aideinit -y -f")
    """
    if host.get_fact(PathExists, path=path):
        host.noop(f"{path} already exists")
        return
    yield StringCommand(command)


@operation()
def perms(path: str, user: str, group: str, mode: str) -> Commands:
    """
    Fix the owner, group and mode of a file or directory if it exists (missing: nothing to do).

    + path: file or directory
    + user/group/mode: wanted ownership and octal mode

    **Example:**

    .. code:: python

        perms(name="R50 /etc/shadow", path="/etc/shadow", user="root", group="shadow",
              mode="0640")
    """
    info = host.get_fact(File, path=path) or host.get_fact(Directory, path=path)
    if not info:
        host.noop(f"{path} does not exist")
        return
    same = True
    if (info.get("user"), info.get("group")) != (user, group):
        same = False
        yield StringCommand("chown", f"{user}:{group}", QuoteString(path))
    if info.get("mode") != _mode(mode):
        same = False
        yield StringCommand("chmod", mode, QuoteString(path))
    if same:
        host.noop(f"{path} is {user}:{group} {mode}")


@operation()
def unit_masked(unit: str) -> Commands:
    """
    Stop, disable and mask a systemd unit if it is installed.

    + unit: full unit name (``cups.service``, ``avahi-daemon.socket``)

    **Example:**

    .. code:: python

        unit_masked(name="R62 cups.service masked", unit="cups.service")
    """
    state = host.get_fact(UnitState, unit=unit)
    if state.get("LoadState") in (None, "not-found"):
        host.noop(f"{unit} is not installed")
        return
    if state.get("UnitFileState") == "masked" and state.get("ActiveState") != "active":
        host.noop(f"{unit} is masked and stopped")
        return
    yield StringCommand("systemctl", "disable", "--now", QuoteString(unit))
    yield StringCommand("systemctl", "mask", QuoteString(unit))


@operation()
def unit_running(unit: str) -> Commands:
    """
    Enable and start a systemd unit that must run (no-op when enabled and active).

    + unit: full unit name (``auditd.service``, ``dailyaidecheck.timer``)

    **Example:**

    .. code:: python

        unit_running(name="R73 auditd enabled and running", unit="auditd.service")
    """
    state = host.get_fact(UnitState, unit=unit)
    if state.get("LoadState") in (None, "not-found"):
        raise OperationError(f"{unit} is not installed (is its package in the image?)")
    enabled = state.get("UnitFileState") in ("enabled", "static", "alias", "indirect")
    active = state.get("ActiveState") == "active"
    if enabled and active:
        host.noop(f"{unit} is enabled and active")
        return
    if state.get("UnitFileState") == "masked":
        yield StringCommand("systemctl", "unmask", QuoteString(unit))
    if not enabled:
        yield StringCommand("systemctl", "enable", QuoteString(unit))
    if not active:
        yield StringCommand("systemctl", "start", QuoteString(unit))


@operation()
def unless_present(path: str, pattern: str, command: str) -> Commands:
    """
    Run a command unless a file already holds a line matching an extended regex.

    + path: file inspected (missing file: the command runs)
    + pattern: ``grep -E`` pattern proving the command's effect
    + command: what converges the file (pam-auth-update, chage ...)

    **Example:**

    .. code:: python

        unless_present(name="R31 faillock in PAM", path="/etc/pam.d/common-auth",
                       pattern="pam_faillock.so", command="pam-auth-update --enable hdh-faillock")
    """
    if host.get_fact(FindInFile, path=path, pattern=pattern, extended_regex=True):
        host.noop(f"{path} already matches {pattern}")
        return
    yield StringCommand(command)
