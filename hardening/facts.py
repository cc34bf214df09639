"""pyinfra facts the hardening deploys need beyond pyinfra's own (host kind, accounts, ...)."""

from __future__ import annotations

from pyinfra.api import FactBase, QuoteString, StringCommand

KIND_COMMAND = (
    "if systemd-detect-virt --quiet --container; then echo container; "
    "elif systemd-detect-virt --quiet --vm; then echo vm; else echo none; fi"
)


class HostKind(FactBase[str]):
    """`container` (shares the host's kernel), `vm` or `none` (bare metal)."""

    def command(self) -> str:
        return KIND_COMMAND

    @staticmethod
    def default() -> str:
        return "unknown"

    def process(self, output: list[str]) -> str:
        value = output[0].strip() if output else ""
        return value if value in ("container", "vm", "none") else "unknown"


# Filesystems that cannot hold a program of the system (kernel interfaces, memory-only mounts).
_PSEUDO_FS = (
    "proc,sysfs,devtmpfs,tmpfs,devpts,cgroup,cgroup2,mqueue,securityfs,pstore,bpf,debugfs,"
    "tracefs,configfs,fusectl,hugetlbfs,autofs,binfmt_misc,efivarfs,ramfs,rpc_pipefs,nsfs"
)
PRIVILEGED_PROGRAMS_COMMAND = (
    # Every mount where a setuid/setgid program can run (neither nosuid nor noexec), then the
    # setuid/setgid regular files on each, not crossing into other mounts.
    "findmnt -rn -o TARGET,OPTIONS -t "
    + ",".join(f"no{fs}" for fs in _PSEUDO_FS.split(","))
    + " | "
    "awk '$2 !~ /(^|,)(nosuid|noexec)(,|$)/ {print $1}' | "
    'while read -r m; do find "$(printf \'%b\' "$m")" -xdev -type f -perm /6000 -print; done | '
    "sort -u"
)


class PrivilegedPrograms(FactBase[list[str]]):
    """Setuid/setgid programs that can run: the files a `-F path=... -F perm=x` audit rule each
    must cover (R73; SSG's audit_rules_privileged_commands counts them the same way)."""

    default = list

    def command(self) -> str:
        return PRIVILEGED_PROGRAMS_COMMAND

    def process(self, output: list[str]) -> list[str]:
        return sorted({line.strip() for line in output if line.startswith("/")})


def glob_command(pattern: str) -> str:
    """A shell command printing the existing paths that match `pattern`, one per line."""
    if not pattern.startswith("/") or any(c in pattern for c in " '\"$`;&|<>\\\n"):
        raise ValueError(f"unsafe glob pattern: {pattern!r}")
    return f'for f in {pattern}; do [ -e "$f" ] && echo "$f"; done; true'


class Glob(FactBase[list[str]]):
    """Paths matching a shell glob (`/boot/System.map-*`), sorted; none: an empty list."""

    default = list

    def command(self, pattern: str) -> str:
        return glob_command(pattern)

    def process(self, output: list[str]) -> list[str]:
        return sorted(line for line in output if line.startswith("/"))


class Accounts(FactBase[dict[str, dict[str, object]]]):
    """Local accounts from /etc/passwd: {name: {uid, gid, home, shell}}."""

    default = dict

    def command(self) -> str:
        return "cat /etc/passwd"

    def process(self, output: list[str]) -> dict[str, dict[str, object]]:
        accounts: dict[str, dict[str, object]] = {}
        for line in output:
            parts = line.split(":")
            if len(parts) != 7 or not parts[2].isdigit():
                continue
            accounts[parts[0]] = {
                "uid": int(parts[2]),
                "gid": int(parts[3]) if parts[3].isdigit() else -1,
                "home": parts[5],
                "shell": parts[6],
            }
        return accounts


class UserGroups(FactBase[list[str] | None]):
    """Groups of one user as the system resolves them (`id -Gn`), None if there is no such user."""

    def command(self, user: str) -> StringCommand:
        return StringCommand("id", "-Gn", QuoteString(user), "2>/dev/null", "||", "true")

    @staticmethod
    def default() -> None:
        return None

    def process(self, output: list[str]) -> list[str] | None:
        return output[0].split() if output and output[0].strip() else None


class WorldWritableDirs(FactBase[list[str]]):
    """World-writable directories without the sticky bit on local file systems (R54)."""

    default = list

    def command(self) -> str:
        # -xdev on each local mount keeps network and pseudo file systems out of the walk.
        return (
            "findmnt -rn -o TARGET -t ext2,ext3,ext4,xfs,btrfs,tmpfs,overlay 2>/dev/null | "
            'while read -r m; do find "$m" -xdev -type d -perm -0002 ! -perm -1000 '
            "-print 2>/dev/null; done | sort -u"
        )

    def process(self, output: list[str]) -> list[str]:
        return [line for line in output if line.startswith("/")]


# Shell start-up files SSG (and BP-028's R50 reading) want private to the user: 0740 at most.
INIT_FILES = ("bashrc", "zshrc", "cshrc", "profile", "bash_login", "bash_profile")


class OpenHomeFiles(FactBase[list[tuple[str, str]]]):
    """Files and directories in interactive users' homes open beyond 0750 (R50): suid, sgid or
    sticky bits, group write, any access for others, and group execute on shell start-up files.
    [(kind, path)] with kind `home` (0750 at most) or `init` (0740 at most)."""

    default = list

    def command(self) -> str:
        init = "|".join(INIT_FILES)
        return (
            "awk -F: '$3>=1000 && $3!=65534 && $6!=\"/\" && $7!~/(nologin|false)$/ {print $6}' "
            '/etc/passwd | sort -u | while read -r d; do [ -d "$d" ] || continue; '
            "find \"$d\" -xdev ! -type l -perm /7027 -printf 'home %p\\n'; "
            'find "$d" -maxdepth 1 -type f -perm /0010 -regextype posix-extended '
            f"-regex '.*/\\.({init})' -printf 'init %p\\n'; done"
        )

    def process(self, output: list[str]) -> list[tuple[str, str]]:
        rows = (line.split(" ", 1) for line in output)
        return [(r[0], r[1]) for r in rows if len(r) == 2 and r[0] in ("home", "init")]


class StatOverride(FactBase[dict[str, str] | None]):
    """The dpkg-statoverride entry for a path: {user, group, mode}, None when there is none."""

    def command(self, path: str) -> StringCommand:
        return StringCommand("dpkg-statoverride", "--list", QuoteString(path), "||", "true")

    @staticmethod
    def default() -> None:
        return None

    def process(self, output: list[str]) -> dict[str, str] | None:
        for line in output:
            parts = line.split()
            if len(parts) == 4:
                return {"user": parts[0], "group": parts[1], "mode": parts[2].lstrip("0")}
        return None


class PathExists(FactBase[bool]):
    """Whether a path exists (any type), without pyinfra's stat parsing."""

    def command(self, path: str) -> StringCommand:
        return StringCommand("test", "-e", QuoteString(path), "&&", "echo yes", "||", "echo no")

    @staticmethod
    def default() -> bool:
        return False

    def process(self, output: list[str]) -> bool:
        return bool(output) and output[0].strip() == "yes"


class UnitState(FactBase[dict[str, str]]):
    """LoadState, UnitFileState and ActiveState of one systemd unit."""

    default = dict

    def command(self, unit: str) -> StringCommand:
        return StringCommand(
            "systemctl", "show", "-p", "LoadState,UnitFileState,ActiveState", QuoteString(unit)
        )

    def process(self, output: list[str]) -> dict[str, str]:
        return dict(line.split("=", 1) for line in output if "=" in line)
