"""`hdh pulumi -- ARGS`: the real engine with the project's sovereign defaults."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Sequence
from typing import Any

from ground.paths import ROOT

# Commands that exist only to talk to Pulumi Cloud (or its ESC, Deployments, AI services).
CLOUD_COMMANDS = {"console", "env", "org", "project", "deployment", "api", "insights", "do", "neo"}
# Global flags that take a value (`pulumi --help`): their value is not the command word.
VALUED = {"--color", "-C", "--cwd", "--memprofilerate", "--otel-traces", "--profiling"}
VALUED |= {"--tracing", "-v", "--verbose"}
# `pulumi login` flags that take a value; the OIDC ones exchange a token with Pulumi Cloud.
LOGIN_VALUED = {"--default-org", "--oidc-expiration", "--oidc-org", "--oidc-team"}
LOGIN_VALUED |= {"--oidc-token", "--oidc-user"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "pulumi",
        help="run pulumi with sovereign defaults (self-hosted state, no Pulumi Cloud)",
        description="Run the project's Pulumi engine in the repository with a self-hosted "
        "backend (HDH_BACKEND_URL or PULUMI_BACKEND_URL, default file://.state), the "
        "passphrase secrets provider, and no update check or plugin download. Anything that "
        "would reach Pulumi Cloud (login to it, --cloud-url, cloud-only commands, "
        "PULUMI_ACCESS_TOKEN) is refused with exit 2. "
        "Example: hdh pulumi -- preview --stack ovh-gra --policy-pack policies",
    )
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for pulumi (after --)")
    p.set_defaults(run=run)


def judge(argv: Sequence[str]) -> None:
    """Refuse arguments that would reach Pulumi Cloud or send data out (EngineError)."""
    from hdh.engine import EngineError, backend_problem, shown_url

    words: list[str] = []
    flags: list[tuple[str, str | None]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            words.append(arg)
            continue
        name, eq, inline = arg.partition("=")
        login = words[:1] in (["login"], ["logout"])
        takes = name in VALUED or name == "--cloud-url" or (login and name in {"-c", *LOGIN_VALUED})
        value = inline if eq else None
        if value is None and takes and i < len(argv):
            value, i = argv[i], i + 1
        flags.append((name, value))
    command = words[0] if words else ""
    if command in CLOUD_COMMANDS or (command == "policy" and words[1:2] != ["new"]):
        raise EngineError(f"pulumi {command}: a Pulumi Cloud command, refused")
    for name, value in flags:
        if name == "--cloud-url" or (name == "-c" and command in ("login", "logout")):
            raise EngineError(f"{name} {shown_url(value or '')}: Pulumi Cloud is refused")
        if name in ("--tracing", "--otel-traces") and not str(value).startswith("file:"):
            raise EngineError(f"{name}: only a file: endpoint (traces describe the stack)")
    if command == "login":
        for name, _ in flags:
            if name.startswith("--oidc") or name == "--insecure":
                raise EngineError(f"pulumi login {name}: Pulumi Cloud token exchange, refused")
        if any(name in ("-l", "--local") for name, _ in flags):
            return
        if len(words) < 2:
            raise EngineError(
                "pulumi login without a URL logs in to Pulumi Cloud: name the backend"
            )
        if problem := backend_problem(words[1]):
            raise EngineError(f"pulumi login {shown_url(words[1])}: {problem}")


def run(args: argparse.Namespace) -> int:
    from hdh.engine import environment

    argv = [a for a in args.args if a != "--"] if args.args[:1] == ["--"] else args.args
    judge(argv)
    env = environment()
    return subprocess.run(["pulumi", *argv], cwd=ROOT, env=env, check=False).returncode
