"""File locks beside a file:// backend: one holder at a time, across processes; none on s3://."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from hdh.throwaway import locks


def test_lock_dir_of_each_backend(tmp_path: Path) -> None:
    assert locks.lock_dir(f"file://{tmp_path}") == tmp_path / locks.LOCK_DIR
    assert locks.lock_dir(f"file://{tmp_path}?no_tmp_dir=true") == tmp_path / locks.LOCK_DIR
    assert locks.lock_dir("file://~/state") == Path.home() / "state" / locks.LOCK_DIR
    assert locks.lock_dir("s3://bucket?endpoint=x") is None
    assert locks.for_stack("s3://bucket", "tw-local-abcd").acquire() is True  # nothing to share


def test_one_holder_then_the_next(tmp_path: Path) -> None:
    backend = f"file://{tmp_path}"
    first, second = locks.for_stack(backend, "tw-x-abcd"), locks.for_stack(backend, "tw-x-abcd")
    assert first.acquire() and first.held
    assert not second.acquire()
    assert locks.for_stack(backend, "tw-x-efgh").acquire()  # another stack: its own lock
    first.release()
    assert not (tmp_path / locks.LOCK_DIR / "stack-tw-x-abcd.lock").exists()
    assert second.acquire()
    second.release()


def test_a_lock_held_by_another_process_is_seen(tmp_path: Path) -> None:
    backend = f"file://{tmp_path}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from hdh.throwaway import locks; "
            f"l = locks.for_reaper({backend!r}); assert l.acquire(); print('held', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not locks.for_reaper(backend).acquire()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder exits: the kernel releases its lock
        holder.wait(10)
    assert locks.for_reaper(backend).acquire()


def test_a_waiter_never_holds_a_removed_file(tmp_path: Path) -> None:
    """The holder removes the file on release; a waiter blocked on the old inode takes a new one."""
    backend = f"file://{tmp_path}"
    a = locks.for_stack(backend, "s")
    assert a.acquire()
    waiter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os; from hdh.throwaway import locks; "
            f"l = locks.for_stack({backend!r}, 's'); l.acquire(wait=True); "
            "print(os.fstat(l.fd).st_ino == os.stat(l.path).st_ino, flush=True)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # the waiter has opened the file and blocks in flock
    a.release()
    out, _ = waiter.communicate(timeout=20)
    assert out.strip() == "True"
