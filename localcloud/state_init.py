"""The services' first-run state: databases, schema migrations (once per package set), rings."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from localcloud.packages import installed_versions
from localcloud.paths import AUTH_URL, REGION, Layout
from localcloud.shell import Phase, run

DATABASES = (
    "keystone",
    "glance",
    "placement",
    "nova_api",
    "nova",
    "nova_cell0",
    "neutron",
    "barbican",
    "cinder",
)


def rings(layout: Layout) -> None:
    """One-node Swift rings: part power 8, one replica, one device on a directory."""
    sw = layout.etc / "swift"
    for kind, port in (("account", 6202), ("container", 6201), ("object", 6200)):
        if (sw / f"{kind}.ring.gz").exists():
            continue
        builder = str(sw / f"{kind}.builder")
        run(["swift-ring-builder", builder, "create", "8", "1", "1"], f"ring {kind}")
        run(
            [
                "swift-ring-builder",
                builder,
                "add",
                "--region",
                "1",
                "--zone",
                "1",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--device",
                "d1",
                "--weight",
                "100",
            ],
            f"ring {kind}",
        )
        run(["swift-ring-builder", builder, "rebalance"], f"ring {kind}")
    # Swift reads its hash suffix from /etc/swift/swift.conf only (a fixed path in swift.common);
    # the package's file with its placeholder suffix serves a throwaway one-node cluster.
    shutil.copy("/etc/swift/swift.conf", sw / "swift.conf")


def mariadb_init(layout: Layout) -> bool:
    """Create the database server's files unless they exist; True when made now (a new cloud)."""
    datadir = layout.data / "mysql"
    if (datadir / "mysql").is_dir():
        return False
    datadir.mkdir(parents=True, exist_ok=True)
    run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={datadir}",
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        "mariadb init",
    )
    return True


def databases(layout: Layout, pw: dict[str, str]) -> None:
    sql = "".join(f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8;" for db in DATABASES)
    sql += (
        f"CREATE USER IF NOT EXISTS 'hdh'@'127.0.0.1' IDENTIFIED BY '{pw['db']}';"
        f"ALTER USER 'hdh'@'127.0.0.1' IDENTIFIED BY '{pw['db']}';"
        "GRANT ALL PRIVILEGES ON *.* TO 'hdh'@'127.0.0.1'; FLUSH PRIVILEGES;"
    )
    run(
        ["mariadb", "--no-defaults", f"--socket={layout.run / 'mysqld.sock'}", "-uroot"],
        "databases",
        input=sql,
    )


def syncs(layout: Layout, pw: dict[str, str]) -> None:
    """Schema migrations of every service, in parallel (each service's chain in order)."""
    e = layout.etc
    ks = ["keystone-manage", "--config-file", str(e / "keystone" / "keystone.conf")]
    nm = ["nova-manage", "--config-file", str(e / "nova" / "nova.conf")]
    owner = ["--keystone-user", "root", "--keystone-group", "root"]

    def keystone() -> None:
        run([*ks, "db_sync"], "keystone db_sync")
        run([*ks, "fernet_setup", *owner], "keystone fernet_setup")
        run([*ks, "credential_setup", *owner], "keystone credential_setup")
        run(
            [
                *ks,
                "bootstrap",
                "--bootstrap-password",
                pw["admin"],
                "--bootstrap-admin-url",
                AUTH_URL,
                "--bootstrap-internal-url",
                AUTH_URL,
                "--bootstrap-public-url",
                AUTH_URL,
                "--bootstrap-region-id",
                REGION,
            ],
            "keystone bootstrap",
        )

    def nova() -> None:
        run([*nm, "api_db", "sync"], "nova api_db sync")
        run(
            [
                *nm,
                "cell_v2",
                "map_cell0",
                "--database_connection",
                f"mysql+pymysql://hdh:{pw['db']}@127.0.0.1:3306/nova_cell0?charset=utf8",
            ],
            "nova map_cell0",
        )
        if " cell1 " not in run([*nm, "cell_v2", "list_cells"], "nova list_cells"):
            run([*nm, "cell_v2", "create_cell", "--name", "cell1"], "nova create_cell")
        run([*nm, "db", "sync"], "nova db sync")

    jobs: list[Callable[[], object]] = [
        keystone,
        nova,
        lambda: run(
            ["glance-manage", "--config-file", str(e / "glance" / "glance-api.conf"), "db_sync"],
            "glance db_sync",
        ),
        lambda: run(
            [
                "placement-manage",
                "--config-file",
                str(e / "placement" / "placement.conf"),
                "db",
                "sync",
            ],
            "placement db sync",
        ),
        lambda: run(
            [
                "neutron-db-manage",
                "--config-file",
                str(e / "neutron" / "neutron.conf"),
                "--config-file",
                str(e / "neutron" / "ml2_conf.ini"),
                "upgrade",
                "heads",
            ],
            "neutron db upgrade",
        ),
        lambda: run(
            ["cinder-manage", "--config-file", str(e / "cinder" / "cinder.conf"), "db", "sync"],
            "cinder db sync",
        ),
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        for fut in [pool.submit(j) for j in jobs]:
            fut.result()


def migrate(layout: Layout, pw: dict[str, str]) -> None:
    """Run every service's migrations once per set of installed package versions."""
    stamp = layout.data / f".synced-{_versions_hash()}"
    if stamp.exists():
        return
    with Phase("database migrations"):
        syncs(layout, pw)
    for old in layout.data.glob(".synced-*"):
        old.unlink()
    stamp.touch()


def _versions_hash() -> str:
    return hashlib.sha256(json.dumps(installed_versions()).encode()).hexdigest()[:12]
