"""Benchmarks: each module prints figures (and ratios) for one issue's targets."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
Row = tuple[str, float, str]  # (what, seconds, note): one line of a benchmark's table


def timed(label: str, fn: Callable[[], T], rows: list[Row], note: str = "") -> T:
    """Run `fn`, append its wall time to `rows` and report it on stderr."""
    t0 = time.monotonic()
    value = fn()
    rows.append((label, time.monotonic() - t0, note))
    print(f"{label}: {rows[-1][1]:.1f} s {note}", file=sys.stderr)
    return value
