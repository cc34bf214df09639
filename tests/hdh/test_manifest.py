"""The bundle manifest: sha256sum-compatible, and strict on hostile bundles."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ground.errors import InputError
from hdh import manifest


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "b"
    (root / "policy").mkdir(parents=True)
    (root / "policy" / "report.json").write_text('{"ok": true}\n')
    (root / "README.md").write_text("# x\n")
    (root / "name with spaces.txt").write_text("spaces are fine\n")
    manifest.write(root)
    return root


def test_written_manifest_verifies_here_and_with_sha256sum(bundle: Path) -> None:
    v = manifest.verify(bundle)
    assert v.ok and v.checked == 3, v.problems
    assert v.digest == hashlib.sha256((bundle / manifest.MANIFEST).read_bytes()).hexdigest()
    done = subprocess.run(
        ["sha256sum", "-c", "--strict", manifest.MANIFEST], cwd=bundle, capture_output=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_changed_byte_is_found(bundle: Path) -> None:
    (bundle / "policy" / "report.json").write_text('{"ok": false}\n')
    v = manifest.verify(bundle)
    assert not v.ok and any("policy/report.json: SHA-256" in p for p in v.problems)


def test_added_removed_and_symlinked_files_are_found(bundle: Path, tmp_path: Path) -> None:
    (bundle / "extra.txt").write_text("slipped in")
    (bundle / "README.md").unlink()
    (tmp_path / "outside").write_text("x")
    (bundle / "link").symlink_to(tmp_path / "outside")
    problems = "\n".join(manifest.verify(bundle).problems)
    assert "extra.txt: present but not in the manifest" in problems
    assert "README.md: listed in the manifest but missing" in problems
    assert "link: not a regular file" in problems


@pytest.mark.parametrize(
    "line",
    [
        f"{'0' * 64}  ../outside",
        f"{'0' * 64}  /etc/passwd",
        f"{'0' * 64}  a/../../b",
        f"{'0' * 64}  {manifest.MANIFEST}",
        "not a line at all",
        f"{'Z' * 64}  README.md",
        f"{'0' * 63}  README.md",
    ],
)
def test_hostile_manifest_lines_are_refused(bundle: Path, line: str) -> None:
    with (bundle / manifest.MANIFEST).open("a") as f:
        f.write(line + "\n")
    v = manifest.verify(bundle)
    assert not v.ok and any(f"{manifest.MANIFEST}:" in p for p in v.problems), v.problems


def test_duplicate_entries_and_a_rewritten_manifest(bundle: Path) -> None:
    text = (bundle / manifest.MANIFEST).read_text()
    before = manifest.verify(bundle).digest
    (bundle / manifest.MANIFEST).write_text(text + text.splitlines()[0] + "\n")
    assert any("listed twice" in p for p in manifest.verify(bundle).problems)
    # Someone who rewrites a file *and* the manifest is caught only by the recorded digest.
    (bundle / "README.md").write_text("# forged\n")
    manifest.write(bundle)
    assert manifest.verify(bundle).ok
    late = manifest.verify(bundle, expect_digest=before)
    assert not late.ok and "is not the expected" in late.problems[0]


def test_a_malformed_expected_digest_is_an_input_error(bundle: Path) -> None:
    with pytest.raises(InputError, match="not a SHA-256"):
        manifest.verify(bundle, expect_digest="abc")


def test_not_a_bundle_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such directory"):
        manifest.verify(tmp_path / "missing")
    with pytest.raises(InputError, match="not an evidence bundle"):
        manifest.verify(tmp_path)
    (tmp_path / manifest.MANIFEST).write_bytes(b"\xff\xfe\x00garbage")
    v = manifest.verify(tmp_path)
    assert not v.ok and "not UTF-8" in v.problems[0]


def test_a_fifo_is_refused_when_writing(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InputError, match="not regular files"):
        manifest.write(tmp_path)
    shutil.rmtree(tmp_path)
