"""Files the CLI writes: checked before any work starts, written with one clear error."""

from __future__ import annotations

import os
from pathlib import Path

from ground.errors import InputError


def check_writable(path: Path | None, flag: str) -> None:
    """Refuse an output path that cannot be written, before anything runs ('-' is stdout)."""
    if path is None or str(path) == "-":
        return
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a directory")
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent
    while not existing.exists():  # write() makes the missing directories
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{flag} {path}: {existing} is not a directory")
    target = path if path.exists() else existing
    if not os.access(target, os.W_OK) or (path.exists() and not path.is_file()):
        raise InputError(f"{flag} {path}: not writable")


def check_dir(path: Path, flag: str) -> None:
    """Refuse an output directory that cannot be made or written, before anything runs."""
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{flag} {path}: {existing} is not a directory")
    if not os.access(existing, os.W_OK):
        raise InputError(f"{flag} {path}: not writable")


def write(path: Path, text: str, flag: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None


def check_private_key(path: str | None, flag: str = "--ssh-key") -> None:
    """A readable private key file (its content is never shown)."""
    if path is None:
        return
    p = Path(path)
    try:
        head = p.read_bytes()[:4096]
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from None
    if b"PRIVATE KEY" not in head:
        raise InputError(f"{flag} {path}: not a private key (a public key or another file?)")
