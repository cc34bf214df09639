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

import yaml

from ground.errors import HdhError
from ground.paths import ROOT

log = logging.getLogger(__name__)
DEFAULT_STATE = ROOT / ".state"  # git-ignored: the default file:// backend of a clone
# Self-hosted backends only: a local directory or S3-compatible (sovereign) object storage.
ALLOWED_BACKENDS = ("file://", "s3://")
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
    url = env.get("HDH_BACKEND_URL") or env.get("PULUMI_BACKEND_URL") or ""
    if not url:
        return f"file://{DEFAULT_STATE}"
    if "pulumi.com" in url:
        raise EngineError(f"backend {url}: Pulumi Cloud is refused (state stays under EU control)")
    if not url.startswith(ALLOWED_BACKENDS):
        raise EngineError(f"backend {url}: use file://DIR or s3://BUCKET (S3-compatible storage)")
    return url


def environment(
    base: Mapping[str, str] | None = None, *, backend: str | None = None
) -> dict[str, str]:
    """The environment every engine run gets: our engine first on PATH, sovereign defaults."""
    env = dict(os.environ if base is None else base)
    url = backend or backend_url(env)
    if url.startswith("file://"):
        Path(url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    if not env.get("PULUMI_CONFIG_PASSPHRASE") and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        raise EngineError(
            "set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): stack secrets are "
            "encrypted with it; it is never written to the repository"
        )
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
        self.dir = workdir / "project"
        self.stack = stack
        self.dir.mkdir(parents=True)
        for name in PROJECT_FILES:
            shutil.copy2(ROOT / name, self.dir / name)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in PROJECT_DIRS:
            shutil.copytree(ROOT / name, self.dir / name, ignore=ignore)
        shutil.copytree(ROOT / "stacks" / "profiles", self.dir / "stacks" / "profiles")
        (self.dir / ".venv").symlink_to(ROOT / ".venv")
        use_shared_venv(self.dir / "Pulumi.yaml")
        use_shared_venv(self.dir / "policies" / "PulumiPolicy.yaml")
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
