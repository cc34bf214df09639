"""`down` stops every process `up` started (runs last: the file name sorts after the others)."""

from __future__ import annotations

import pytest

from localcloud import cloud, daemons
from localcloud.paths import EXT_NETNS, Layout, state_dir
from testbed.proc import alive

pytestmark = pytest.mark.cloud


def test_down_leaves_no_process(local_cloud: dict[str, str]) -> None:
    layout = Layout(state_dir())
    recorded = daemons.load_pids(layout)
    assert len(recorded) >= 20
    cloud.down()
    still = [n for n, r in recorded.items() if alive(int(r["pid"] or 0), r.get("start"))]
    assert still == []
    assert daemons.strays(layout) == []
    assert cloud.status() == {}
    import subprocess

    assert (
        EXT_NETNS
        not in subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        ).stdout
    )
