"""A small signed Debian repository for the fleet: the testbed's stand-in for Debian's mirror.

The hosts have no internet. The services tier's packages (squid, apt-cacher-ng, Prometheus, ...)
and whatever they need beyond the image are fetched once from Debian with `apt-get download`
(its own sources, lists and cache: the system's apt is left alone), indexed with
`dpkg-scanpackages`, given a Release file signed by a key made for this repository, and served
over HTTP inside the fleet's "outside" namespace (testbed/fleet.py). Cached by content hash.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
import subprocess
import tempfile
import time
from email.utils import formatdate
from pathlib import Path

from testbed.image import MIRRORS, Image
from testbed.paths import cache_root, locked
from testbed.proc import TestbedError, run

log = logging.getLogger(__name__)

# What the services role installs from the network (hardening/egress.py, monitoring.py,
# backups.py).
PACKAGES = ("squid", "apt-cacher-ng", "prometheus", "prometheus-alertmanager",
            "prometheus-node-exporter", "python3-openstacksdk")  # fmt: skip
KEYRING = "hdh-testbed-repo.gpg"  # the repository's public key, what apt's signed-by names
RECIPE = 1


def repo_root() -> Path:
    return cache_root() / "repo"


def _apt_opts(apt: Path, image: Image) -> list[str]:
    return [
        "-q",
        "-o", f"Dir::Etc::sourcelist={apt / 'sources.list'}",
        "-o", f"Dir::Etc::sourceparts={apt / 'parts'}",  # empty: no system sources
        "-o", f"Dir::State::Lists={apt / 'lists'}",
        "-o", f"Dir::Cache={apt / 'cache'}",
        # What the image already has: only the rest goes into the repository.
        "-o", f"Dir::State::status={image.rootfs / 'var/lib/dpkg/status'}",
        "-o", "Acquire::Languages=none",
        "-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
        "-o", "APT::Sandbox::User=root",
        "-o", "Debug::NoLocking=1",
    ]  # fmt: skip


def ensure_repo(image: Image, packages: tuple[str, ...] = PACKAGES) -> Path:
    """The repository directory (InRelease, Packages, pool/, the keyring), built once."""
    key = hashlib.sha256(f"{RECIPE}|{image.digest}|{','.join(sorted(packages))}".encode())
    final = repo_root() / key.hexdigest()[:16]
    if (final / "READY").exists():
        return final
    with locked(repo_root() / "lock"):
        if (final / "READY").exists():
            return final
        t0 = time.monotonic()
        work = Path(tempfile.mkdtemp(prefix="build-", dir=repo_root()))
        try:
            _build(work, image, packages)
            (work / "READY").write_text(f"{time.time():.0f}\n")
            shutil.rmtree(final, ignore_errors=True)
            work.rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.info("repo: %d packages in %.0f s", len(list((final / "pool").glob("*.deb"))),
                 time.monotonic() - t0)  # fmt: skip
    return final


def _build(work: Path, image: Image, packages: tuple[str, ...]) -> None:
    apt = repo_root() / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "parts"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text("\n".join(MIRRORS) + "\n")
    opts = _apt_opts(apt, image)
    run(["apt-get", *opts, "update"], host="localhost", step="repo apt-get update", timeout=600)
    sim = run(
        ["apt-get", *opts, "install", "-s", "--no-install-recommends", *packages],
        host="localhost",
        step="repo closure",
        timeout=600,
    )
    # "Inst name [old] (version Release [arch])": what a host of this image must fetch.
    wanted = [
        f"{line.split()[1]}={line.split('(', 1)[1].split()[0]}"
        for line in sim.splitlines()
        if line.startswith("Inst ")
    ]
    pool = work / "pool"
    pool.mkdir()
    proc = subprocess.run(
        ["apt-get", *opts, "download", *wanted],
        cwd=pool,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if proc.returncode != 0:
        raise TestbedError("localhost", "repo download", proc.stderr.strip()[-800:])
    # dpkg-scanpackages runs relative to the current directory: call it from the repository.
    index = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", "pool", "/dev/null"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    (work / "Packages").write_text(index)
    (work / "Packages.gz").write_bytes(gzip.compress(index.encode(), mtime=0))
    (work / "Release").write_text(_release(work, ("Packages", "Packages.gz")))
    _sign(work)


def _release(work: Path, files: tuple[str, ...]) -> str:
    lines = [
        "Origin: hdh-testbed",
        "Label: hdh-testbed",
        "Suite: hdh-testbed",
        "Codename: hdh-testbed",
        f"Date: {formatdate(usegmt=True)}",
        "Architectures: amd64 all",
        "Description: the testbed fleet's stand-in for Debian's mirror",
    ]
    for field, algo in (("MD5Sum", hashlib.md5), ("SHA256", hashlib.sha256)):
        lines.append(f"{field}:")
        for name in files:
            blob = (work / name).read_bytes()
            lines.append(f" {algo(blob).hexdigest()} {len(blob)} {name}")
    return "\n".join(lines) + "\n"


def _sign(work: Path) -> None:
    """A signing key for this repository only (ed25519, no passphrase: a test fixture)."""
    home = work / ".gnupg"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--batch", "--homedir", str(home), "--pinentry-mode", "loopback",
           "--passphrase", ""]  # fmt: skip
    run([*gpg, "--quick-gen-key", "hdh testbed repository", "ed25519", "sign", "never"],
        host="localhost", step="repo key")  # fmt: skip
    run([*gpg, "--output", str(work / KEYRING), "--export"], host="localhost", step="repo key")
    run([*gpg, "--output", str(work / "InRelease"), "--clearsign", str(work / "Release")],
        host="localhost", step="repo sign")  # fmt: skip
    shutil.rmtree(home)  # the key is used once: nothing can sign for this repository again


def sources_line(url: str) -> str:
    """The sources.list line of a host using the repository at `url` (its key in keyrings)."""
    return f"deb [signed-by=/etc/apt/keyrings/{KEYRING}] {url} ./\n"
