"""The real Pulumi engine with sovereign defaults: self-hosted state, passphrase secrets."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import yaml

from ground.errors import HdhError
from ground.names import is_loopback_host
from ground.paths import ROOT

log = logging.getLogger(__name__)
DEFAULT_STATE = ROOT / ".state"  # git-ignored: the default file:// backend of a clone
# What a throwaway copy of the project needs to run the program and the pack.
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "pyproject.toml", "uv.lock", "README.md")
PROJECT_DIRS = ("ground", "components", "policies", "hardening")


class EngineError(HdhError):
    """The engine cannot run as asked (missing engine, refused backend, no passphrase)."""


@cache
def install() -> Path:
    """Install (or find) the engine with scripts/install-engine; return its bin directory."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "install-engine")], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise EngineError(f"scripts/install-engine failed: {done.stderr.strip()}")
    return Path(done.stdout.strip().splitlines()[-1])


def backend_url(env: Mapping[str, str]) -> str:
    """The state backend: HDH_BACKEND_URL or PULUMI_BACKEND_URL, judged; default file://.state."""
    url = env.get("HDH_BACKEND_URL") or env.get("PULUMI_BACKEND_URL") or ""
    if not url:
        return f"file://{DEFAULT_STATE}"
    if problem := backend_problem(url, env):
        raise EngineError(f"backend {shown_url(url)}: {problem}")
    return url


def shown_url(url: str) -> str:
    """A URL as messages show it: any user:password@ replaced."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def backend_problem(url: str, env: Mapping[str, str] | None = None) -> str | None:
    """Why a state backend URL is refused, judged on its parsed parts (not on substrings).

    Accepted: `file://` (any path) and `s3://BUCKET?endpoint=HOST` where HOST is the S3 endpoint
    of an EU region of a profile (stacks/profiles/*.yaml `s3Endpoint`, the region's country
    decided by stacks/countries.yaml) or a loopback test server. Without `endpoint=`, an s3://
    URL is Amazon S3 itself; `region=` is the provider's business, the endpoint decides.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return None
    host = (parts.hostname or "").lower()
    if scheme in ("http", "https") or host == "pulumi.com" or host.endswith(".pulumi.com"):
        return "Pulumi Cloud (or a Pulumi service) is refused: state stays under EU control"
    if scheme != "s3":
        return f"{scheme or 'no scheme'}: use file://DIR or s3://BUCKET?endpoint=HOST"
    query = {k.lower(): v for k, v in parse_qsl(parts.query)}
    if "@" in parts.netloc:
        return "credentials in the URL are refused: use AWS_* variables"
    endpoints = [("endpoint=", query.get("endpoint", ""))]
    endpoints += [(k, (env or {}).get(k, "")) for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")]
    if not endpoints[0][1]:
        return "no endpoint=: that is Amazon S3, a US provider; name an EU provider's S3 endpoint"
    for where, value in endpoints:
        if not value:
            continue
        ep = urlsplit(value if "://" in value else f"https://{value}")
        if ep.hostname and is_loopback_host(ep.hostname):
            continue
        if ep.scheme == "http" or query.get("disablessl", "").lower() == "true":
            return f"{where} is not TLS: state would cross the network in clear"
        if (ep.hostname or "").lower() not in eu_s3_endpoints():
            known = ", ".join(sorted(eu_s3_endpoints())) or "none"
            return f"{where} {ep.hostname}: not an EU region's S3 endpoint (profiles: {known})"
    return None


@cache
def eu_s3_endpoints() -> frozenset[str]:
    """S3 hosts of EU regions, from the profiles (membership from stacks/countries.yaml)."""
    from components.profile import available_profiles, load_profile

    return frozenset(
        r.s3_endpoint.lower()
        for name in available_profiles()
        for r in load_profile(name).regions.values()
        if r.s3_endpoint and r.in_eu
    )


def passphrase_problem(env: Mapping[str, str]) -> str | None:
    """Why the passphrase secrets provider has no usable passphrase, or None."""
    if "PULUMI_CONFIG_PASSPHRASE" in env:
        # Set, even to "", it is what the engine uses: an empty one encrypts with nothing.
        if not env["PULUMI_CONFIG_PASSPHRASE"].strip():
            return (
                "PULUMI_CONFIG_PASSPHRASE is empty: stack secrets would be encrypted with nothing"
            )
        return None
    path = env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if not path:
        return (
            "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): stack secrets are "
            "encrypted with it; it is never written to the repository"
        )
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        return f"PULUMI_CONFIG_PASSPHRASE_FILE {path}: cannot read: {exc.strerror or exc}"
    if not text.strip():
        return f"PULUMI_CONFIG_PASSPHRASE_FILE {path} is empty"
    return None


def environment(
    base: Mapping[str, str] | None = None, *, backend: str | None = None
) -> dict[str, str]:
    """The environment every engine run gets: our engine first on PATH, sovereign defaults."""
    env = dict(os.environ if base is None else base)
    if env.get("PULUMI_ACCESS_TOKEN"):
        raise EngineError("PULUMI_ACCESS_TOKEN is set: unset it (Pulumi Cloud is refused)")
    url = backend or backend_url(env)
    if problem := passphrase_problem(env):
        raise EngineError(problem)
    if url.startswith("file://"):
        Path(url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    env.update(
        PATH=f"{install()}{os.pathsep}{env.get('PATH', '')}",
        PULUMI_BACKEND_URL=url,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
    )
    env.pop("VIRTUAL_ENV", None)  # the project's runtime options choose .venv
    return env


def use_shared_venv(path: Path) -> None:
    """Point a copied project (or pack) at the clone's venv through the pip toolchain.

    With the uv toolchain the engine runs `uv sync` in the copy, which re-installs the project
    into the shared venv as an editable install of the *copy*: once the copy is gone, the clone's
    venv no longer imports its own code. The pip toolchain only reads the venv (pip is kept in
    it for this, see pyproject.toml).
    """
    doc = yaml.safe_load(path.read_text())
    doc["runtime"] = {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": str(ROOT / ".venv")},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def copy_project(dest: Path) -> Path:
    """Copy what the engine needs to run the program and the pack into `dest` (a new directory).

    Profiles come along, stack files do not: the caller writes the one stack it runs.
    """
    dest.mkdir(parents=True)
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PROJECT_DIRS:
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copytree(ROOT / "stacks" / "profiles", dest / "stacks" / "profiles")
    # The reviewed list of EU/EEA countries the profiles are judged against (components/profile.py).
    shutil.copy2(ROOT / "stacks" / "countries.yaml", dest / "stacks" / "countries.yaml")
    (dest / ".venv").symlink_to(ROOT / ".venv")
    use_shared_venv(dest / "Pulumi.yaml")
    use_shared_venv(dest / "policies" / "PulumiPolicy.yaml")
    return dest


class ThrowawayProject:
    """A copy of the project in a scratch directory, with its own state and stack file.

    `pulumi stack init` writes an encryption salt into the stack file and state into the
    backend: neither may touch the clone, so tests and benchmarks work on a copy.
    """

    def __init__(
        self,
        workdir: Path,
        stack: str,
        config: Mapping[str, Any] | None = None,
        passphrase: str = "throwaway-project-only",
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`config` overrides keys of the stack file; `env` adds variables (e.g. a cloud's OS_*)."""
        self.dir = copy_project(workdir / "project")
        self.stack = stack
        doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
        doc["config"].update(config or {})
        (self.dir / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc))
        base = {**os.environ, **(env or {})}
        self.env = environment(
            {**base, "PULUMI_CONFIG_PASSPHRASE": passphrase, "UV_OFFLINE": "1"},
            backend=f"file://{workdir / 'state'}",
        )
        # A preview never authenticates (delayed auth); loopback so nothing could leave. A real
        # cloud's OS_AUTH_URL (from `env`) wins.
        self.env.setdefault("OS_AUTH_URL", "http://127.0.0.1:9/v3")
        self.run("stack", "init", stack)

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["pulumi", *args, "--non-interactive"],
            cwd=self.dir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise EngineError(
                f"pulumi {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def preview_json(self, *extra: str, check: bool = True) -> dict[str, Any]:
        done = self.run("preview", "--json", *extra, check=check)
        out: dict[str, Any] = json.loads(done.stdout)
        return out
