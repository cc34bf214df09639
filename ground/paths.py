"""Where things are: the repository root and the one cache directory outside the clone."""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root: Pulumi.yaml, stacks/, components/, policies/, hardening/ live here.
ROOT = Path(__file__).resolve().parent.parent


def cache_dir(*parts: str) -> Path:
    """`$HDH_CACHE/<parts>`, `$HDH_CACHE` defaulting to `~/.cache/hdh-platform`.

    One meaning everywhere: the engine unpacks into `engine-<sha>`, the testbed keeps its images
    and run state under `testbed/`, the local cloud its state under `local-cloud/`.
    """
    env = os.environ.get("HDH_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "hdh-platform"
    return base.expanduser().resolve().joinpath(*parts)
