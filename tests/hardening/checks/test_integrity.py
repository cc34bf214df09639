"""R79 R76: AIDE database sealed, periodic check scheduled."""

from __future__ import annotations

from typing import Any


def test_r79_aide_database(host: Any, expect: Any) -> None:
    db = expect("integrity", "aide.database")
    assert host.package("aide").is_installed
    assert host.file(db).exists and host.file(db).size > 0


def test_r76_aide_periodic_check(host: Any, expect: Any) -> None:
    timer = expect("integrity", "aide.timer")
    assert host.service(timer).is_enabled
