"""On the local cloud, one up/destroy of the `local` stack: drift is clean, then found after an
out-of-band change; the evidence bundle of the deployed stack verifies; the closure record of
its bubble proves, through the APIs, that every key, volume and container is gone."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hdh import cli, closure
from hdh.drift import detect
from hdh.engine import ThrowawayProject
from tests.localcloud.conftest import probe

pytestmark = pytest.mark.cloud
STACK = "local"
BUBBLE = "demo-cardio"


@pytest.fixture
def cloud_env(local_cloud: dict[str, str]) -> Iterator[dict[str, str]]:
    """The local cloud's OS_* variables in this process too (openstacksdk reads them)."""
    saved = {k: os.environ.get(k) for k in local_cloud}
    os.environ.update(local_cloud)
    try:
        yield local_cloud
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_drift_evidence_closure(tmp_path: Path, cloud_env: dict[str, str]) -> None:
    copy = ThrowawayProject(tmp_path, STACK, passphrase="local-cloud-test", env=cloud_env)

    def run(*args: str, **_: Any) -> Any:
        return copy.run(*args, check=False, timeout=1800)

    history = tmp_path / "drift.jsonl"
    try:
        up = copy.run("up", "--yes", "--skip-preview", check=False, timeout=1800)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]

        clean = detect(STACK, run, history=history)
        assert clean["drift"] is False, json.dumps(clean["phases"], indent=1)
        assert clean["phases"]["hardening"]["status"] == "skipped"
        assert clean["phases"]["policy"]["resources"] > 50

        conn = closure.connect()
        # Someone deletes the bubble's DNS egress rule by hand (udp/53 to its own subnet).
        sg = next(g for g in conn.network.security_groups() if f"bubble-{BUBBLE}-sg" in g.name)
        (dns,) = [
            r
            for r in conn.network.security_group_rules(security_group_id=sg.id)
            if r.protocol == "udp" and r.port_range_min == 53
        ]
        conn.network.delete_security_group_rule(dns)
        drifted = detect(STACK, run, history=history)
        assert drifted["drift"] is True
        rule = f"::bubble-{BUBBLE}-dns"
        refresh = drifted["phases"]["refresh"]["changes"]
        assert [c["op"] for c in refresh if c["urn"].endswith(rule)] == ["delete"], refresh
        preview = drifted["phases"]["preview"]["changes"]
        assert [c["op"] for c in preview if c["urn"].endswith(rule)] == ["create"], preview
        lines = [json.loads(x) for x in history.read_text().splitlines()]
        assert [r["drift"] for r in lines] == [False, True]
        assert all(r["format"] == "hdh-drift/v1" and r["started"] for r in lines)

        export = tmp_path / "export.json"
        export.write_text(copy.run("stack", "export").stdout)
        record = closure.prepare(json.loads(export.read_text()), BUBBLE, conn, STACK)
        kinds = {i["kind"] for i in record["items"]}
        assert {"key", "volume", "container"} <= kinds, record["items"]
        assert all(i.get("encrypted") for i in record["items"] if i["kind"] == "volume")
        before = closure.verify(record, conn)
        assert before["complete"] is False and not any(r["deleted"] for r in before["results"])
        prepared = tmp_path / "closure.json"
        prepared.write_text(json.dumps(record))
    finally:
        downs = [
            copy.run("destroy", "--yes", "--skip-preview", check=False, timeout=1800)
            for _ in range(2)  # a second pass deletes what the first left
        ]
    destroyed = "\n".join(d.stdout[-3000:] + d.stderr[-2000:] for d in downs)
    assert downs[-1].returncode == 0, destroyed
    left = probe(cloud_env, "leftovers")
    left.pop("seconds")

    done = closure.verify(closure.read_record(prepared), conn)
    # What a destroy may leave: the LUKS key of a boot volume Nova deleted with its instance
    # (Cinder keeps it on this cloud). Anything else left is a failure of the destroy itself.
    kept = [r for r in done["results"] if not r["deleted"]]
    assert all(r["kind"] == "volume-key" and r["orphaned"] for r in kept), (kept, left, destroyed)
    if kept:
        done = closure.verify(closure.read_record(prepared), conn, shred=True)
        assert {r["id"] for r in done["results"] if r.get("shredded")} == {r["id"] for r in kept}
    assert done["complete"] is True, [r for r in done["results"] if not r["deleted"]]
    assert done["cryptoShredded"] is True
    verified = tmp_path / "closure.verified.json"
    verified.write_text(json.dumps(done))

    bundle = tmp_path / "bundle"
    args = ["evidence", "--stack", STACK, "--state", str(export), "--out", str(bundle)]
    assert cli.main([*args, "--closure", str(verified)]) == 0
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["state"]["kind"] == "stack-export" and meta["summary"]["policy"]["passed"]
    assert meta["summary"]["closures"] == 1
    assert cli.main(["evidence", "--verify", str(bundle)]) == 0
    left = probe(cloud_env, "leftovers")
    left.pop("seconds")
    assert {k: v for k, v in left.items() if v} == {}, left
