"""R79 R76: AIDE database sealed, periodic check scheduled."""

from __future__ import annotations

from typing import Any


def test_r79_aide_database(host: Any, expect: Any) -> None:
    db = expect("integrity", "aide.database")
    assert host.package("aide").is_installed
    assert host.file(db).exists and host.file(db).size > 0
    # What SSG's aide_build_database means to check, without its deprecated `database=` key
    # (scap_tailoring.yaml): the configuration reads this database and AIDE accepts it whole,
    # without a warning.
    conf = host.file("/etc/aide/aide.conf").content_string
    assert f"database_in=file:{db}" in conf.splitlines()
    check = host.run("/usr/bin/aide --config-check --config /etc/aide/aide.conf")
    assert check.rc == 0 and not (check.stdout + check.stderr).strip(), check.stderr


def test_r76_aide_periodic_check(host: Any, expect: Any) -> None:
    timer = expect("integrity", "aide.timer")
    assert host.service(timer).is_enabled
