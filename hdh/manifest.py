"""SHA-256 manifest of a directory, in `sha256sum` format, and its strict offline verification.

The manifest lists every regular file but itself as `<hex>  <relative path>`, sorted, so an
auditor can check a bundle with `sha256sum -c MANIFEST.sha256` and no tool of ours. `verify`
is stricter than sha256sum: it also refuses files the manifest does not list, symlinks, paths
that leave the directory, duplicates and malformed lines. Its digest (the SHA-256 of the manifest
itself) is what to record out of band: whoever can rewrite the files can rewrite the manifest too.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ground.errors import InputError

MANIFEST = "MANIFEST.sha256"
LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")
CHUNK = 1 << 20
MAX_MANIFEST = 16 << 20  # bytes: a bundle holds hundreds of files, not millions


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def files(root: Path) -> tuple[list[str], list[str]]:
    """(regular files, anything else) under root as relative POSIX paths, the manifest excluded."""
    regular: list[str] = []
    other: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames):
            if (base / name).is_symlink():
                other.append((base / name).relative_to(root).as_posix())
        for name in filenames:
            p = base / name
            rel = p.relative_to(root).as_posix()
            if rel == MANIFEST:
                continue
            mode = os.lstat(p).st_mode
            (regular if stat.S_ISREG(mode) else other).append(rel)
    return sorted(regular), sorted(other)


def write(root: Path) -> str:
    """Write root/MANIFEST.sha256 over every file under root; return the manifest's digest."""
    regular, other = files(root)
    if other:
        raise InputError(f"{root}: not regular files, refused in a bundle: {', '.join(other)}")
    text = "".join(f"{sha256_file(root / rel)}  {rel}\n" for rel in regular)
    (root / MANIFEST).write_text(text)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Verification:
    digest: str = ""
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _safe(rel: str) -> bool:
    p = PurePosixPath(rel)
    return (
        not p.is_absolute()
        and ".." not in p.parts
        and "\\" not in rel
        and "\x00" not in rel
        and rel == p.as_posix()
        and rel != MANIFEST
    )


def verify(root: Path, expect_digest: str | None = None) -> Verification:
    """Check root against its manifest; InputError when there is no bundle to check at all."""
    if expect_digest is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", expect_digest):
        raise InputError(f"--expect-digest {expect_digest[:80]!r}: not a SHA-256 (64 hex digits)")
    if not root.is_dir():
        raise InputError(f"{root}: no such directory")
    mpath = root / MANIFEST
    if mpath.is_symlink() or not mpath.is_file():
        raise InputError(f"{root}: no {MANIFEST} (not an evidence bundle)")
    if mpath.stat().st_size > MAX_MANIFEST:
        raise InputError(f"{mpath}: larger than {MAX_MANIFEST} bytes")
    raw = mpath.read_bytes()
    out = Verification(digest=hashlib.sha256(raw).hexdigest())
    if expect_digest is not None and out.digest != expect_digest.lower():
        out.problems.append(
            f"{MANIFEST}: digest {out.digest} is not the expected {expect_digest.lower()}"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        out.problems.append(f"{MANIFEST}: not UTF-8")
        return out
    listed: dict[str, str] = {}
    for n, line in enumerate(text.split("\n"), 1):
        if not line and n == len(text.split("\n")):
            continue  # the final newline
        m = LINE.match(line)
        if not m:
            out.problems.append(f"{MANIFEST}:{n}: malformed line {line[:80]!r}")
            continue
        digest, rel = m.groups()
        if not _safe(rel):
            out.problems.append(f"{MANIFEST}:{n}: path {rel!r} leaves the bundle or is not plain")
        elif rel in listed:
            out.problems.append(f"{MANIFEST}:{n}: {rel} listed twice")
        else:
            listed[rel] = digest
    regular, other = files(root)
    for rel in other:
        out.problems.append(f"{rel}: not a regular file (symlink or special file)")
    present = set(regular)
    for rel, digest in sorted(listed.items()):
        if rel not in present:
            out.problems.append(f"{rel}: listed in the manifest but missing")
            continue
        out.checked += 1
        actual = sha256_file(root / rel)
        if actual != digest:
            out.problems.append(f"{rel}: SHA-256 {actual} differs from the manifest's {digest}")
    for rel in sorted(present - set(listed)):
        out.problems.append(f"{rel}: present but not in the manifest")
    return out
